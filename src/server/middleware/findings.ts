/**
 * What happens to an anomaly finding (from the window rules at the end of a request, audit-trail.ts, or from the
 * read budgets before a record is sent, read-budget.ts): logged, counted, sent to the alert webhook; a high one
 * quarantines the identity (once per node).
 */
import type { Finding } from "../../anomaly/rules.js";
import type { Controls } from "../controls.js";

export function reportFindings(
  deps: Pick<Controls, "metrics" | "log" | "alertWebhook" | "quarantine">,
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
    if (f.severity === "high" && !deps.quarantine.isQuarantined(caller.identity)) {
      deps.metrics.quarantines.inc();
      void deps.quarantine
        .quarantine(caller.identity, f)
        .catch((err: unknown) => deps.log.error({ err: (err as Error).message }, "could not store a quarantine"));
    }
  }
}
