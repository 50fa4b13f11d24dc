/**
 * How one entry of the route table (routes.ts) runs: note the route's declared action and kind (state.route), the
 * write's attempt entry (write-ahead.ts; not for GET), the route's guards, the handler, whose outcome joins
 * state.route, and for a record read the read budget (read-budget.ts). Then the route ends.
 */
import type Router from "@koa/router";
import type { RouterMiddleware } from "@koa/router";
import type { AccessAction } from "../anomaly/rules.js";
import type { Caller } from "./middleware/auth.js";
import { callerOf } from "./state.js";
import type { AppMiddleware, AppState, RouteContext, RouteOutcome } from "./state.js";

/** Only a well-formed id goes into the audit trail: the path is the caller's text. */
const RECORD_ID = /^[0-9a-f]{32}$/;

export interface RouteSpec {
  method: "GET" | "POST" | "PUT" | "DELETE" | "ALL";
  path: string | string[];
  /** The action its audit entries name. */
  action: string;
  /** What the anomaly rules count it as (anomaly/rules.ts). */
  kind: AccessAction;
  /** Steps between the controls and the handler (the console's headers, the admin gate). */
  guards?: AppMiddleware[];
  handle(ctx: RouteContext, caller: Caller): Promise<RouteOutcome | void> | RouteOutcome | void;
}

/** The route's declared action and kind, and the record id its path names (when well-formed). */
function note(spec: RouteSpec): RouterMiddleware<AppState> {
  // Not async: nothing to do after the rest (middleware/hsts.ts says why).
  return function route(ctx, next) {
    const id = ctx.params.id;
    ctx.state.route = {
      action: spec.action,
      kind: spec.kind,
      ...(id !== undefined && RECORD_ID.test(id) ? { recordId: id } : {}),
    };
    return next();
  };
}

function run(spec: RouteSpec): RouterMiddleware<AppState> {
  return async function handler(ctx, next) {
    const outcome = await spec.handle(ctx, callerOf(ctx));
    const route = ctx.state.route;
    if (outcome && route) Object.assign(route, outcome);
    await next();
  };
}

/** The end of a route: nothing after it (not the next matching route, nor the 404 of app.ts). */
const END: RouterMiddleware<AppState> = () => undefined;

export function mount(router: Router<AppState>, spec: RouteSpec, attempt: AppMiddleware, budget: AppMiddleware): void {
  const steps: RouterMiddleware<AppState>[] = [
    note(spec),
    ...(spec.method === "GET" ? [] : [attempt]),
    ...(spec.guards ?? []),
    run(spec),
    ...(spec.kind === "get" ? [budget] : []),
    END,
  ];
  if (spec.method === "ALL") router.all(spec.path, ...steps);
  else router.register(spec.path, [spec.method], steps);
}
