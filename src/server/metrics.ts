/** Prometheus metrics (prom-client), one registry per server so that several servers can share a process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "certvault_requests_total",
    help: "API requests by action and status",
    labelNames: ["action", "status"] as const,
    registers: [this.registry],
  });
  readonly auditFailures = new Counter({
    name: "certvault_audit_failures_total",
    help: "Requests refused because their audit entry could not be written",
    registers: [this.registry],
  });
  readonly alerts = new Counter({
    name: "certvault_anomaly_alerts_total",
    help: "Anomaly rule findings",
    labelNames: ["rule", "severity"] as const,
    registers: [this.registry],
  });
  readonly quarantines = new Counter({
    name: "certvault_quarantines_total",
    help: "Identities quarantined by this server",
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: "certvault_rate_limited_total",
    help: "Requests answered 429",
    labelNames: ["scope"] as const,
    registers: [this.registry],
  });
  readonly auditChainBroken = new Gauge({
    name: "certvault_audit_chain_broken",
    help: "1 while this node refuses to sign audit checkpoints: the stored chain does not continue a signed checkpoint it trusts",
    registers: [this.registry],
  });
  readonly auditCheckpointRefusals = new Counter({
    name: "certvault_audit_checkpoint_refusals_total",
    help: "Audit checkpoints this node refused to sign over a broken or unanchored chain",
    registers: [this.registry],
  });

  readonly auditBatch = new Histogram({
    name: "certvault_audit_batch_entries",
    help: "Audit entries per commit (group commit: concurrent requests share one)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 500],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "certvault_" });
  }
}
