/**
 * The last step of every request: one audit entry, committed before the answer leaves (or the request is answered
 * 503), then the in-memory anomaly rules. It reads only what earlier steps wrote into ctx.state (state.ts): the
 * caller (auth.ts) and the route's declared action and kind with its handler's outcome (routes.ts); never the
 * response body or the query.
 */
import type { Next } from "koa";
import type { TLSSocket } from "node:tls";
import type { CertvaultError } from "../../errors/index.js";
import { AuditUnavailableError, asCertvaultError } from "../../errors/index.js";
import type { AuditEvent } from "../../audit/chain.js";
import { peerSerial } from "../tls/peer-certificate.js";
import type { Caller } from "./auth.js";
import { sourceOf } from "../controls.js";
import type { Controls } from "../controls.js";
import { reportFindings } from "./findings.js";
import { requestPath } from "../state.js";
import type { AppContext, AppMiddleware, RouteNote } from "../state.js";

/** A request refused before routing (or taken by no route). */
const UNROUTED: RouteNote = { action: "request", kind: "other" };

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 256);
}

function entryOf(deps: Controls, ctx: AppContext, route: RouteNote, failure: CertvaultError | undefined): AuditEvent {
  const caller = ctx.state.caller;
  return {
    time: deps.now(),
    actor: caller?.identity ?? "-",
    serial: caller?.serial ?? peerSerial(ctx.req.socket as TLSSocket),
    source: sourceOf(ctx),
    action: route.action,
    recordId: route.recordId ?? null,
    status: failure?.status ?? ctx.status,
    requestId: ctx.state.requestId ?? null,
    // A request no route took is described by its method and path (printable ASCII only, bounded): ids, never content.
    detail:
      route === UNROUTED
        ? {
            method: ctx.method,
            path: printable(requestPath(ctx)),
            ...(failure ? { code: failure.code } : {}),
          }
        : failure
          ? { code: failure.code }
          : null,
  };
}

export function auditTrail(deps: Controls): AppMiddleware {
  return async function audit(ctx: AppContext, next: Next): Promise<void> {
    let failure: CertvaultError | undefined;
    try {
      await next();
    } catch (err) {
      failure = asCertvaultError(err);
    }
    const route = ctx.state.route ?? UNROUTED;
    const event = entryOf(deps, ctx, route, failure);
    try {
      await deps.audit.append(event);
    } catch (err) {
      deps.metrics.auditFailures.inc();
      // A write that was carried out (its attempt entry is committed) is answered as it went: a refusal now would
      // tell the client that nothing happened (e.g. a disk that filled up between the write and this entry).
      if (!failure && route.attempted === true) {
        deps.log.error(
          { code: (err as { code?: string }).code ?? "unknown", requestId: event.requestId },
          "the outcome entry of a completed write could not be written; its attempt entry stands",
        );
        return;
      }
      // A database that is down or full says so (503 database_unavailable / storage_full, Retry-After); anything
      // else that refuses the entry (a trigger, a constraint) is audit_unavailable.
      const fault = asCertvaultError(err);
      if (fault.status === 503) throw fault;
      deps.log.error(
        { code: (err as { code?: string }).code ?? "unknown", requestId: event.requestId },
        "audit entry could not be written; request refused",
      );
      throw new AuditUnavailableError();
    }
    deps.metrics.requests.inc({ action: route.action, status: String(event.status) });
    const caller = ctx.state.caller;
    if (caller) await observe(deps, caller, route, event);
    if (failure) throw failure;
  };
}

/** The window rules (anomaly/shared-detector.ts) see what the route declared and what its handler reported. */
async function observe(deps: Controls, caller: Caller, route: RouteNote, event: AuditEvent): Promise<void> {
  const time = event.time.getTime();
  const findings = await deps.detector.observe(caller.identity, caller.serial, {
    time,
    source: event.source ?? "unknown",
    action: route.kind,
    status: event.status,
    ...(event.recordId ? { recordId: event.recordId } : {}),
    ...(route.kind === "list" && event.status === 200 && route.list ? { list: route.list } : {}),
    ...(route.recordUpdatedAt ? { recordAgeMs: time - route.recordUpdatedAt.getTime() } : {}),
  });
  reportFindings(deps, caller, findings, event.time);
}
