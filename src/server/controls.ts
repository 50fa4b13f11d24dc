/**
 * The audit and abuse controls' port: what the control steps of the request path use (audit-trail.ts,
 * rate-limit.ts, quarantine-gate.ts, concurrency-cap.ts, write-ahead.ts, read-budget.ts, admin-gate.ts,
 * findings.ts). startServer builds the real ones; the benchmark injects no-op ones (bench/cv-server.ts) into the
 * same app, so there is one app shape.
 */
import type { Logger } from "pino";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { AuditEvent } from "../audit/chain.js";
import type { AccessEvent, Finding } from "../anomaly/rules.js";
import type { ReadVerdict } from "./middleware/admission.js";
import type { Metrics } from "./metrics.js";
import type { Quarantine } from "../anomaly/quarantine.js";
import { clientAddress } from "./tls/proxy-protocol.js";
import type { AppContext } from "./state.js";

export interface Controls {
  /** The audit trail: one entry per request, a write's attempt entry first. */
  audit: { append(event: AuditEvent): Promise<void> };
  /** The window rules over counts shared by every node (anomaly/shared-detector.ts). */
  detector: { observe(identity: string, serial: string | null, e: AccessEvent): Promise<Finding[]> };
  /** The read budgets shared by every node (admission.ts); absent: reads are only observed at completion. */
  reads?: { admit(identity: string, recordId: string, now: number, quarantined: boolean): Promise<ReadVerdict> };
  quarantine: Quarantine;
  /** Absent when a limit is turned off. */
  limiters: { identity?: RateLimiterAbstract; source?: RateLimiterAbstract };
  /** Requests of one identity in flight at once on this node (concurrency-cap.ts); 0: no cap. */
  maxConcurrentRequests: number;
  metrics: Metrics;
  log: Logger;
  now: () => Date;
  alertWebhook: string | undefined;
  adminIdentities: readonly string[];
}

/**
 * The client's address: behind a trusted balancer the one its PROXY header named (proxy-protocol.ts). The socket is
 * gone (null) once Node destroyed a request whose body was refused half-way (found by fuzzing).
 */
export function sourceOf(ctx: AppContext): string {
  return clientAddress(ctx.req.socket) ?? "unknown";
}
