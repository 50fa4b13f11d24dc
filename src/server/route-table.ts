/**
 * The dispatcher of the route table (routes.ts): one lookup per request, then the route's steps, composed once when
 * the table is built. It replaced @koa/router, which per request tested each of ~30 layers' regular expressions (with
 * a `debug` call each), built the matched layers' chain and composed it anew: 16 % of the bytes a GET /v1/me
 * allocated (sampling heap profile, session 11). Measured cost now: docs/performance.md, "Session 11".
 *
 * Matching (the rules @koa/router applied to our table, kept; test/server/route-table.test.ts):
 * - On the raw path (Koa's ctx.path, not percent-decoded): a literal segment matches itself only, case-sensitive,
 *   trailing slash significant. One spelling per endpoint, the one the audit trail names: `/v1/m%65` is not /v1/me.
 * - `:name` takes one non-empty segment, percent-decoded into ctx.params (kept raw when it does not decode: the
 *   handler's own check refuses it). `*name`, last only, takes the rest of the path, slashes included, non-empty.
 * - A GET route answers HEAD too; an ALL route answers every method. The first route in table order that matches
 *   path and method runs; the table is refused at build time where a literal path would be taken by an earlier
 *   pattern, so that the literal lookup (one Map read) may go first.
 * - A path some route serves under other methods: 405 method_not_allowed with Allow (OPTIONS included). No route
 *   for the path: next() (the 404 of app.ts).
 */
import compose from "koa-compose";
import type { Middleware } from "koa";
import { MethodNotAllowedError } from "../errors/index.js";
import { requestPath } from "./state.js";
import type { AppContext, AppState, RouteContext } from "./state.js";

export type RouteMethod = "GET" | "POST" | "PUT" | "DELETE" | "ALL";
type Steps = (ctx: RouteContext) => Promise<unknown>;

interface Route {
  method: RouteMethod;
  path: string;
  run: Steps;
}

/** A route whose path has parameters: its expression and parameter names. */
interface PatternRoute extends Route {
  pattern: Pattern;
}

interface Pattern {
  re: RegExp;
  names: string[];
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});
/** A literal segment: unreserved characters only (RFC 3986), so that it is its own expression but for '.'. */
const LITERAL = /^[A-Za-z0-9._~-]*$/;
/** A parameter (`:name`) or the rest (`*name`): the whole segment, a plain name (`/:id.json` is refused, not a name). */
const PARAMETER = /^[:*][A-Za-z_$][A-Za-z0-9_$]*$/;

function serves(route: Route, method: string): boolean {
  return route.method === method || route.method === "ALL" || (method === "HEAD" && route.method === "GET");
}

function compile(path: string): Pattern | undefined {
  if (!path.startsWith("/")) throw new Error(`route path must start with '/': ${path}`);
  const segments = path.slice(1).split("/");
  const names: string[] = [];
  const parts = segments.map((s, i) => {
    if (s.startsWith(":") || s.startsWith("*")) {
      if (!PARAMETER.test(s)) throw new Error(`route parameter not a plain name: ${path}`);
      if (s.startsWith("*") && i !== segments.length - 1) throw new Error(`'*' only last: ${path}`);
      names.push(s.slice(1));
      return s.startsWith(":") ? "([^/]+)" : "([^]+)";
    }
    if (!LITERAL.test(s)) throw new Error(`route segment not a plain literal: ${path}`);
    return s.replaceAll(".", "\\.");
  });
  return names.length > 0 ? { re: new RegExp(`^/${parts.join("/")}$`), names } : undefined;
}

function decode(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export class RouteTable {
  /** Literal paths: path -> its routes in table order. */
  private readonly literal = new Map<string, Route[]>();
  /** Paths with parameters, in table order. */
  private readonly patterns: PatternRoute[] = [];

  /** Adds a route; its steps end it (nothing after them runs, not the 404). */
  add(method: RouteMethod, path: string, steps: Middleware<AppState, RouteContext>[]): void {
    const run = compose(steps) as unknown as Steps;
    const pattern = compile(path);
    if (pattern) {
      this.patterns.push({ method, path, run, pattern });
      return;
    }
    const overlaps = (p: Route): boolean => p.method === method || p.method === "ALL" || method === "ALL";
    const earlier = this.patterns.find((p) => p.pattern.re.test(path) && overlaps(p));
    if (earlier) throw new Error(`route ${method} ${path} would be taken by the earlier ${earlier.path}`);
    const list = this.literal.get(path);
    const route: Route = { method, path, run };
    if (list) list.push(route);
    else this.literal.set(path, [route]);
  }

  /** The one Koa step that runs the matching route. */
  routes(): Middleware<AppState> {
    // Named `dispatch`, as @koa/router's step was: bench/pipeline.ts subtracts the route steps from it by that name.
    const dispatch: Middleware<AppState> = (ctx, next) => {
      const method = ctx.method;
      const path = requestPath(ctx);
      const rc = ctx as RouteContext;
      for (const route of this.literal.get(path) ?? []) {
        if (!serves(route, method)) continue;
        rc.params = NO_PARAMS;
        return route.run(rc);
      }
      for (const route of this.patterns) {
        if (!serves(route, method)) continue;
        const m = route.pattern.re.exec(path);
        if (!m) continue;
        const params: Record<string, string> = {};
        route.pattern.names.forEach((name, i) => (params[name] = decode(m[i + 1] ?? "")));
        rc.params = params;
        return route.run(rc);
      }
      return this.refuse(ctx, next);
    };
    return dispatch;
  }

  /** No route serves this method here: 405 with Allow where the path exists under others, else on to the 404. */
  private refuse(ctx: AppContext, next: () => Promise<unknown>): Promise<unknown> {
    const path = requestPath(ctx);
    const here = [...(this.literal.get(path) ?? []), ...this.patterns.filter((r) => r.pattern.re.test(path))];
    if (here.length === 0) return next();
    const allow = new Set<string>();
    for (const r of here) for (const m of r.method === "GET" ? ["GET", "HEAD"] : [r.method]) allow.add(m);
    ctx.set("Allow", [...allow].join(", "));
    return Promise.reject(new MethodNotAllowedError());
  }
}
