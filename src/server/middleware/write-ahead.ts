/**
 * A route step, before the handler of every POST, PUT and DELETE: the write's attempt entry is committed to the
 * audit trail first; if it cannot be, nothing is written (503 database_unavailable / storage_full, or
 * audit_unavailable). The route's action and record id are the ones routes.ts declared (state.route).
 */
import type { Next } from "koa";
import { AuditUnavailableError, asCertvaultError } from "../../errors/index.js";
import type { Controls } from "../controls.js";
import { sourceOf } from "../controls.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";

export function writeAhead(deps: Pick<Controls, "audit" | "metrics" | "now">): AppMiddleware {
  return async function attempt(ctx: AppContext, next: Next): Promise<void> {
    const route = ctx.state.route;
    if (route && (ctx.method === "POST" || ctx.method === "PUT" || ctx.method === "DELETE")) {
      const caller = callerOf(ctx);
      try {
        await deps.audit.append({
          time: deps.now(),
          actor: caller.identity,
          serial: caller.serial,
          source: sourceOf(ctx),
          action: route.action,
          recordId: route.recordId ?? null,
          status: 0,
          requestId: ctx.state.requestId ?? null,
          detail: { phase: "attempt" },
        });
      } catch (err) {
        deps.metrics.auditFailures.inc();
        const fault = asCertvaultError(err);
        throw fault.status === 503 ? fault : new AuditUnavailableError();
      }
      route.attempted = true;
    }
    await next();
  };
}
