/**
 * The first step of every request: a request id (X-Request-Id), the request counted on its connection until its
 * answer is written (revocation/revoked-connections.ts trackRequest: a revoked certificate's connection closes once
 * idle), and one log line at the end. Never a body, a key or a query string (cursors are harmless, but the rule is
 * simpler without exceptions).
 */
import type { Next } from "koa";
import { randomUUID } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { trackRequest } from "../revocation/revoked-connections.js";
import type { AppContext, AppMiddleware } from "../state.js";

export function accessLog(log: Logger): AppMiddleware {
  return async function logRequest(ctx: AppContext, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    trackRequest(ctx.req.socket as TLSSocket, ctx.res);
    const requestId = randomUUID();
    ctx.set("X-Request-Id", requestId);
    ctx.state.requestId = requestId;
    // The logger as it is (a per-request child logger costs more than the rest of the bookkeeping); the one place
    // that logs from inside a request (errors.ts) adds the request id itself.
    ctx.state.log = log;
    try {
      await next();
    } finally {
      if (log.isLevelEnabled("info")) {
        const caller = ctx.state.caller;
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
    }
  };
}
