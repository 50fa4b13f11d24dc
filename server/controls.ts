/**
 * Audit and abuse controls as Koa middleware: every request leaves an audit entry before its answer is sent (or is
 * answered 503), writes are recorded before they happen, callers are rate-limited per address and per identity,
 * quarantined identities are refused, and each access feeds the anomaly detector.
 */
import type { Context, Next } from "koa";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { CertvaultError } from "../errors/index.js";
import {
  AdminRequiredError,
  AuditUnavailableError,
  ServiceUnavailableError,
  IdentityQuarantinedError,
  RateLimitedError,
  asCertvaultError,
} from "../errors/index.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { AuditEvent } from "../audit/chain.js";
import type { SharedDetector } from "../abuse/shared-detector.js";
import type { AccessAction, Finding } from "../abuse/rules.js";
import { normalizeSerial } from "../ca/serial.js";
import type { Caller } from "./auth.js";
import type { Metrics } from "./metrics.js";
import { clientAddress } from "./proxy-protocol.js";
import type { ReadAdmission } from "./admission.js";

export interface Quarantines {
  isQuarantined(identity: string): boolean;
  /** Quarantines now in this process and records it for every node; resolves once stored. */
  quarantine(identity: string, finding: Finding): Promise<void>;
}

export interface ControlsDeps {
  audit: AuditLog;
  /** The window rules over counts shared by every node (abuse/shared-detector.ts). */
  detector: Pick<SharedDetector, "observe">;
  quarantines: Quarantines;
  metrics: Metrics;
  log: Logger;
  now: () => Date;
  alertWebhook: string | undefined;
  adminIdentities: readonly string[];
  /** The read budgets shared by every node (server/admission.ts); absent: reads are only observed at completion. */
  reads?: ReadAdmission;
}

const RECORD_ID = /^[0-9a-f]{32}$/;

export interface AuditedRoute {
  action: string;
  kind: AccessAction;
  recordId?: string;
}

/**
 * Route-level: names what the matched route does (so the audit entry and the anomaly rules see exactly what was
 * served, whatever spelling of the path reached it) and records a write's attempt before the handler runs: if that
 * entry cannot be written, nothing is written. Without controls (the benchmark's "off" run) it only names.
 */
export function audited(action: string, kind: AccessAction, deps?: ControlsDeps) {
  return async function auditedRoute(ctx: Context, next: Next): Promise<void> {
    const id = (ctx.params as Record<string, string | undefined> | undefined)?.id;
    // Only a well-formed id goes into the audit trail: the path is the caller's text.
    const route: AuditedRoute = { action, kind, ...(id !== undefined && RECORD_ID.test(id) ? { recordId: id } : {}) };
    ctx.state.audit = route;
    if (deps && (ctx.method === "POST" || ctx.method === "PUT" || ctx.method === "DELETE")) {
      const caller = ctx.state.caller as Caller;
      try {
        await deps.audit.append({
          time: deps.now(),
          actor: caller.identity,
          serial: caller.serial,
          source: source(ctx),
          action,
          recordId: route.recordId ?? null,
          status: 0,
          requestId: (ctx.state.requestId as string | undefined) ?? null,
          detail: { phase: "attempt" },
        });
      } catch (err) {
        deps.metrics.auditFailures.inc();
        const fault = asCertvaultError(err);
        throw fault.status === 503 ? fault : new AuditUnavailableError();
      }
      ctx.state.auditAttempt = true;
    }
    await next();
    // A record found and the caller's to read: counted against the shared budgets before a byte of it is sent.
    if (deps?.reads && kind === "get" && route.recordId && ctx.status === 200)
      await admitRead(deps, deps.reads, ctx, route.recordId);
  };
}

async function admitRead(deps: ControlsDeps, reads: ReadAdmission, ctx: Context, recordId: string): Promise<void> {
  const caller = ctx.state.caller as Caller;
  const time = deps.now();
  const verdict = await reads.admit(
    caller.identity,
    recordId,
    time.getTime(),
    deps.quarantines.isQuarantined(caller.identity),
  );
  reportFindings(deps, caller, verdict.report, time);
  if (verdict.refuse) {
    ctx.remove("ETag");
    throw new IdentityQuarantinedError();
  }
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 256);
}

function source(ctx: Context): string {
  // The socket is gone (null) once Node destroyed a request whose body was refused half-way (found by fuzzing).
  // Behind a trusted balancer: the address its PROXY header named (proxy-protocol.ts).
  return clientAddress(ctx.req.socket) ?? "unknown";
}

function peerSerial(ctx: Context): string | null {
  try {
    const cert = (ctx.req.socket as TLSSocket).getPeerX509Certificate();
    return cert ? normalizeSerial(cert.serialNumber) : null;
  } catch {
    return null;
  }
}

/** Outermost control: one audit entry per request, committed before the answer leaves; then the detector. */
export function auditTrail(deps: ControlsDeps) {
  return async function audit(ctx: Context, next: Next): Promise<void> {
    let failure: CertvaultError | undefined;
    try {
      await next();
    } catch (err) {
      failure = asCertvaultError(err);
    }
    const caller = ctx.state.caller as Caller | undefined;
    // Set by the matched route; a request refused before routing (or by no route) is a plain "request".
    const { action, kind, recordId } = (ctx.state.audit as AuditedRoute | undefined) ?? {
      action: "request",
      kind: "other" as const,
    };
    const status = failure?.status ?? ctx.status;
    const event: AuditEvent = {
      time: deps.now(),
      actor: caller?.identity ?? "-",
      serial: caller?.serial ?? peerSerial(ctx),
      source: source(ctx),
      action,
      recordId: (ctx.state.recordId as string | undefined) ?? recordId ?? null,
      status,
      requestId: (ctx.state.requestId as string | undefined) ?? null,
      // A request no route took is described by its method and path (printable ASCII only, bounded): ids, never content.
      detail:
        action === "request"
          ? { method: ctx.method, path: printable(ctx.path), ...(failure ? { code: failure.code } : {}) }
          : failure
            ? { code: failure.code }
            : null,
    };
    try {
      await deps.audit.append(event);
    } catch (err) {
      deps.metrics.auditFailures.inc();
      // A write that was carried out (its attempt entry is committed) is answered as it went: a refusal now would
      // tell the client that nothing happened (e.g. a disk that filled up between the write and this entry).
      if (!failure && ctx.state.auditAttempt === true) {
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
    deps.metrics.requests.inc({ action, status: String(status) });
    if (caller) await observe(deps, ctx, caller, kind, status, event);
    if (failure) throw failure;
  };
}

async function observe(
  deps: ControlsDeps,
  ctx: Context,
  caller: Caller,
  kind: AccessAction,
  status: number,
  event: AuditEvent,
): Promise<void> {
  const updatedAt = ctx.state.recordUpdatedAt as Date | undefined;
  const body = ctx.body as { next?: unknown } | undefined;
  const findings = await deps.detector.observe(caller.identity, caller.serial, {
    time: event.time.getTime(),
    source: event.source ?? "unknown",
    action: kind,
    status,
    ...(event.recordId ? { recordId: event.recordId } : {}),
    ...(kind === "list" && status === 200
      ? { list: { cursor: typeof ctx.query.cursor === "string" && ctx.query.cursor !== "", end: body?.next === null } }
      : {}),
    ...(updatedAt ? { recordAgeMs: event.time.getTime() - updatedAt.getTime() } : {}),
  });
  reportFindings(deps, caller, findings, event.time);
}

/** Logs, counts and sends each finding to the alert webhook; a high one quarantines the identity (once per node). */
export function reportFindings(
  deps: ControlsDeps,
  caller: { identity: string; serial: string | null },
  findings: readonly Finding[],
  time: Date,
): void {
  for (const f of findings) {
    deps.metrics.alerts.inc({ rule: f.rule, severity: f.severity });
    const alert = {
      alert: "anomaly",
      identity: caller.identity,
      serial: caller.serial,
      ...f,
      quarantine: f.severity === "high",
    };
    deps.log.warn(alert, `anomaly: ${f.rule} (${f.severity}) for ${caller.identity}: ${f.message}`);
    if (deps.alertWebhook) {
      void fetch(deps.alertWebhook, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...alert, time: time.toISOString() }),
        signal: AbortSignal.timeout(5000),
      }).catch((err: unknown) => deps.log.error({ err: (err as Error).message }, "alert webhook failed"));
    }
    if (f.severity === "high" && !deps.quarantines.isQuarantined(caller.identity)) {
      deps.metrics.quarantines.inc();
      void deps.quarantines
        .quarantine(caller.identity, f)
        .catch((err: unknown) => deps.log.error({ err: (err as Error).message }, "could not store a quarantine"));
    }
  }
}

export function quarantineGate(q: Quarantines) {
  return async function gate(ctx: Context, next: Next): Promise<void> {
    if (q.isQuarantined((ctx.state.caller as Caller).identity)) throw new IdentityQuarantinedError();
    await next();
  };
}

/** Token-bucket style limit keyed per identity (after auth) or per source address (before it). */
export function rateLimit(limiter: RateLimiterAbstract | undefined, scope: "identity" | "source", metrics: Metrics) {
  if (!limiter) return async (_ctx: Context, next: Next): Promise<void> => next();
  return async function limited(ctx: Context, next: Next): Promise<void> {
    const key = scope === "identity" ? (ctx.state.caller as Caller).identity : source(ctx);
    try {
      await limiter.consume(key, 1);
    } catch (err) {
      // A limiter that cannot count (its database is down) refuses rather than lets everything through.
      if (!(err instanceof RateLimiterRes)) throw new ServiceUnavailableError("the rate limiter is unavailable");
      metrics.rateLimited.inc({ scope });
      throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
    }
    await next();
  };
}

export function requireAdmin(admins: readonly string[]) {
  const set = new Set(admins);
  return async function admin(ctx: Context, next: Next): Promise<void> {
    if (!set.has((ctx.state.caller as Caller).identity)) throw new AdminRequiredError();
    await next();
  };
}
