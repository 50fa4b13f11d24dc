/**
 * The Koa application, outermost first: request id and access log, the error mapper, the audit trail (every request
 * is recorded before its answer leaves), the per-address rate limit, authentication, the quarantine gate, the
 * per-identity rate limit, then the routes (each names its action for the audit and records a write's attempt). No route runs for an unauthenticated caller.
 */
import Koa from "koa";
import type { Context, Next } from "koa";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { errorMapper } from "./errors.js";
import { hsts } from "./hsts.js";
import { trackRequest } from "./registry-watch.js";
import type { TLSSocket } from "node:tls";
import { authenticate } from "./auth.js";
import type { Caller } from "./auth.js";
import { buildRouter } from "./routes.js";
import { auditTrail, quarantineGate, rateLimit } from "./controls.js";
import { concurrencyCap } from "./admission.js";
import type { ControlsDeps } from "./controls.js";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { RouteDeps } from "./routes.js";
import { MethodNotAllowedError, RouteNotFoundError } from "../errors/index.js";

export interface AppDeps extends RouteDeps {
  log: Logger;
  now: () => Date;
  /** Absent only in the benchmark's "controls off" run; the CLI always passes them. */
  controls?: ControlsDeps;
  /** Absent when a limit is turned off. */
  limiters: { identity?: RateLimiterAbstract; source?: RateLimiterAbstract };
  /** Requests of one identity in flight at once on this node (server/admission.ts); 0 or absent: no cap. */
  maxConcurrentRequests?: number;
}

function accessLog(log: Logger) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    trackRequest(ctx.req.socket as TLSSocket, ctx.res);
    const requestId = randomUUID();
    ctx.set("X-Request-Id", requestId);
    ctx.state.requestId = requestId;
    // The logger goes on the context as it is (a per-request child logger costs more than the rest of the
    // bookkeeping); the one place that logs from inside a request adds the request id itself.
    ctx.state.log = log;
    try {
      await next();
    } finally {
      const caller = ctx.state.caller as Caller | undefined;
      // Never a body, a key or a query string (cursors are harmless, but the rule is simpler without exceptions).
      if (log.isLevelEnabled("info"))
        log.info(
          {
            requestId,
            method: ctx.method,
            path: ctx.path,
            status: ctx.status,
            identity: caller?.identity,
            serial: caller?.serial,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          },
          "request",
        );
    }
  };
}

export function buildApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.silent = true;
  const controls = deps.controls;
  const router = buildRouter(deps, controls);
  app.use(hsts);
  app.use(accessLog(deps.log));
  app.use(errorMapper);
  if (controls) {
    app.use(auditTrail(controls));
    app.use(rateLimit(deps.limiters.source, "source", controls.metrics));
  }
  app.use(authenticate(deps.registry, deps.now));
  if (controls) {
    app.use(quarantineGate(controls.quarantines));
    app.use(rateLimit(deps.limiters.identity, "identity", controls.metrics));
    app.use(concurrencyCap(deps.maxConcurrentRequests ?? 0, controls.metrics));
  }
  app.use(router.routes());
  app.use(
    router.allowedMethods({
      throw: true,
      methodNotAllowed: () => new MethodNotAllowedError(),
      notImplemented: () => new MethodNotAllowedError(),
    }),
  );
  app.use(() => {
    throw new RouteNotFoundError();
  });
  return app;
}
