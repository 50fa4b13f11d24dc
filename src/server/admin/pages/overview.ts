/** Overview: requests and refusals, anomaly alerts, quarantines now, pending renewals, the audit chain's state. */
import { html, isoTime } from "../html.js";
import type { Html } from "../html.js";
import { checkpointVerifier, readAuditPublicKey, auditPaths } from "../../../audit/audit-key.js";
import type { ConsoleService, LastVerify } from "../service.js";
import { verifyForm, verifyOutcome } from "./audit.js";

/** Refusals are counted over this window of the audit trail, at most REFUSAL_ROWS entries. */
const REFUSAL_WINDOW_MS = 24 * 3600_000;
const REFUSAL_ROWS = 5000;

type Counts = [string, number][];

interface Overview {
  requests: Counts;
  refusals: Counts;
  alerts: Counts;
  quarantines: number;
  pending: number;
  tail: number;
  checkpoint: { seq: number; time: Date; genuine: boolean } | undefined;
  lastVerify: LastVerify | undefined;
}

function tally(keys: string[]): Counts {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

async function load(svc: ConsoleService): Promise<Overview> {
  const { metrics, now, home } = svc.deps;
  const byStatus = new Map<string, number>();
  for (const v of (await metrics.requests.get()).values) {
    const cls = `${String(v.labels.status ?? "?").slice(0, 1)}xx`;
    byStatus.set(cls, (byStatus.get(cls) ?? 0) + v.value);
  }
  const alerts = (await metrics.alerts.get()).values.map(
    (v) => [`${String(v.labels.rule)} (${String(v.labels.severity)})`, v.value] as [string, number],
  );
  const refused = await svc.audit.search({
    from: new Date(now().getTime() - REFUSAL_WINDOW_MS),
    minStatus: 400,
    limit: REFUSAL_ROWS,
  });
  const checkpoint = await svc.audit.latestCheckpoint();
  const pub = readAuditPublicKey(auditPaths(home));
  return {
    requests: [...byStatus.entries()].sort(),
    refusals: tally(refused.map((e) => String(e.detail?.code ?? `HTTP ${e.status}`))),
    alerts,
    quarantines: (await svc.quarantine.list()).length,
    pending: (await svc.requests.list("pending")).length,
    tail: (await svc.audit.tail()).seq,
    checkpoint: checkpoint && {
      seq: checkpoint.seq,
      time: checkpoint.time,
      genuine: pub !== undefined && checkpointVerifier(pub)(checkpoint),
    },
    lastVerify: svc.lastVerify,
  };
}

function countTable(caption: string, head: string, rows: Counts, empty: string): Html {
  if (rows.length === 0) return html`<p>${empty}</p>`;
  return html`<table><caption class="skip">${caption}</caption><thead><tr><th scope="col">${head}</th><th scope="col">Count</th></tr></thead>
<tbody>${rows.map(([k, n]) => html`<tr><td>${k}</td><td>${n}</td></tr>`)}</tbody></table>`;
}

export async function overviewBody(svc: ConsoleService, csrf: string): Promise<Html> {
  const o = await load(svc);
  const cp = o.checkpoint;
  return html`<div class="cards">
<section class="card" aria-labelledby="h-req"><h2 id="h-req">Requests since this server started</h2>${countTable("Requests by status", "Status", o.requests, "No requests yet.")}</section>
<section class="card" aria-labelledby="h-ref"><h2 id="h-ref">Refusals in the last 24 hours, by reason</h2>${countTable("Refusals by reason", "Reason", o.refusals, "No refusals.")}</section>
<section class="card" aria-labelledby="h-al"><h2 id="h-al">Anomaly alerts since this server started</h2>${countTable("Alerts by rule", "Rule", o.alerts, "No alerts.")}</section>
<section class="card" aria-labelledby="h-q"><h2 id="h-q">Now</h2>
<p><a href="/admin/quarantines">Quarantined identities: <strong>${o.quarantines}</strong></a></p>
<p><a href="/admin/requests">Renewal requests waiting: <strong>${o.pending}</strong></a></p></section>
</div>
<section aria-labelledby="h-audit"><h2 id="h-audit">Audit chain</h2>
<p>Entries: <strong>${o.tail}</strong>.
${cp ? html`Last signed checkpoint: entry ${cp.seq} at <time datetime="${isoTime(cp.time)}">${isoTime(cp.time)}</time>, signature <span class="${cp.genuine ? "status-ok" : "status-bad"}">${cp.genuine ? "valid" : "NOT valid"}</span>.` : "No signed checkpoint yet."}</p>
${verifyOutcome(o.lastVerify)}
${verifyForm(csrf)}
</section>`;
}
