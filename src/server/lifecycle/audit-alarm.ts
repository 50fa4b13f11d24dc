/**
 * What a node does when it refuses to sign an audit checkpoint (audit/audit-log.ts: the stored chain does not continue
 * a signed checkpoint it trusts, or it trusts none): the gauge certvault_audit_chain_broken goes to 1 and stays there
 * until a checkpoint is signed again, every refusal counts, and each new problem is logged and sent to the alert
 * webhook once (the same path and shape as the anomaly alerts), not once per attempt.
 */
import type { Logger } from "pino";
import type { AuditChainBrokenError } from "../../errors/index.js";
import type { Metrics } from "../metrics.js";

export interface AuditAlarmDeps {
  metrics: Metrics;
  log: Logger;
  alertWebhook: string | undefined;
  now: () => Date;
}

/** POSTs one alert as JSON to the webhook, if configured; a failed delivery is logged, never thrown. */
export function postAlert(deps: Pick<AuditAlarmDeps, "log" | "alertWebhook">, alert: Record<string, unknown>): void {
  if (!deps.alertWebhook) return;
  void fetch(deps.alertWebhook, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(alert),
    signal: AbortSignal.timeout(5000),
  }).catch((err: unknown) => deps.log.error({ err: (err as Error).message }, "alert webhook failed"));
}

export function auditChainAlarm(deps: AuditAlarmDeps): (broken: AuditChainBrokenError | undefined) => void {
  let raised: string | undefined;
  return (broken) => {
    if (!broken) {
      deps.metrics.auditChainBroken.set(0);
      raised = undefined;
      return;
    }
    deps.metrics.auditChainBroken.set(1);
    deps.metrics.auditCheckpointRefusals.inc();
    if (raised === broken.message) return;
    raised = broken.message;
    const alert = {
      alert: "audit_chain_broken",
      severity: "high",
      code: broken.code,
      message: broken.message,
      time: deps.now().toISOString(),
    };
    deps.log.error(alert, broken.message);
    postAlert(deps, alert);
  };
}
