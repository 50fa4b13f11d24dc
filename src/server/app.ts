/**
 * The request path, run in this order (one middleware per file; what each adds to ctx.state is typed in state.ts).
 * After the TLS handshake (tls.ts, handshake-gate.ts):
 *   hsts.ts            Strict-Transport-Security on every answer, errors included
 *   access-log.ts      request id, the request counted on its connection, one log line at the end
 *   errors.ts          errors become JSON with a stable code
 *   audit-trail.ts     one audit entry per request before its answer leaves, then the anomaly rules
 *   rate-limit.ts      per source address
 *   auth.ts            the peer certificate becomes the caller (state.caller); no route runs without one
 *   quarantine-gate.ts a quarantined identity stops here
 *   rate-limit.ts      per identity
 *   concurrency-cap.ts requests of one identity in flight on this node
 *   routes.ts          the route table (route-table.ts matches; 405 with Allow for a wrong method): note the route,
 *                      write-ahead.ts, guards, the handler (a service), read-budget.ts
 * Costs per step for GET /v1/me: see the comments in each file and docs/performance.md.
 */
import Koa from "koa";
import { errorMapper } from "./errors.js";
import { hsts } from "./middleware/hsts.js";
import { accessLog } from "./middleware/access-log.js";
import { auditTrail } from "./middleware/audit-trail.js";
import { rateLimit } from "./middleware/rate-limit.js";
import { authenticate } from "./middleware/auth.js";
import { quarantineGate } from "./middleware/quarantine-gate.js";
import { concurrencyCap } from "./middleware/concurrency-cap.js";
import { buildRoutes } from "./routes.js";
import type { RouteDeps } from "./routes.js";
import type { Controls } from "./controls.js";
import type { ClientRegistry } from "./ports.js";
import type { AppMiddleware, AppState } from "./state.js";
import { RouteNotFoundError } from "../errors/index.js";
import type { Logger } from "pino";

export interface AppDeps extends RouteDeps {
  log: Logger;
  now: () => Date;
  /** What authentication reads of the registry. */
  registry: ClientRegistry;
  /** The audit and abuse controls; the benchmark injects no-op ones. */
  controls: Controls;
}

export function buildApp(deps: AppDeps): Koa<AppState> {
  const c = deps.controls;
  const routes = buildRoutes(deps, c);
  const app = new Koa<AppState>();
  app.silent = true;
  app.use(hsts);
  app.use(accessLog(deps.log));
  app.use(errorMapper);
  app.use(auditTrail(c));
  app.use(rateLimit(c.limiters.source, "source", c.metrics));
  app.use(authenticate(deps.registry, deps.now));
  app.use(quarantineGate(c.quarantine));
  app.use(rateLimit(c.limiters.identity, "identity", c.metrics));
  app.use(concurrencyCap(c.maxConcurrentRequests, c.metrics));
  app.use(routes.routes());
  app.use(noRoute);
  return app;
}

const noRoute: AppMiddleware = () => {
  throw new RouteNotFoundError();
};
