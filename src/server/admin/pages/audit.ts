/** Audit: recent entries, filtered by identity (actor), action and time (UTC); "verify now". */
import { html, isoTime } from "../html.js";
import type { Html } from "../html.js";
import { csrfField, field } from "../layout.js";
import type { AuditEntry } from "../../../audit/chain.js";
import type { AuditFilter } from "../../../store/audit.js";
import type { ConsoleService, LastVerify } from "../service.js";

export const AUDIT_PAGE_ROWS = 200;

export interface AuditQuery {
  identity: string;
  action: string;
  from: string;
  to: string;
}

/** datetime-local text (no zone) read as UTC; anything else is ignored (and said so). */
function utc(text: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text)) return undefined;
  const d = new Date(`${text}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function auditFilter(q: AuditQuery): AuditFilter {
  const from = utc(q.from);
  const to = utc(q.to);
  return {
    ...(q.identity ? { actor: q.identity } : {}),
    ...(q.action ? { action: q.action } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    limit: AUDIT_PAGE_ROWS,
  };
}

function detailText(d: AuditEntry["detail"]): string {
  return d
    ? Object.entries(d)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(" ")
    : "";
}

/** `actor: false` leaves the actor column out (a page about one identity). */
export function entriesTable(entries: AuditEntry[], caption: string, opts: { actor?: boolean } = {}): Html {
  if (entries.length === 0) return html`<p>No entries.</p>`;
  const actor = opts.actor !== false;
  return html`<div class="table-wrap"><table><caption>${caption}</caption>
<thead><tr><th scope="col">#</th><th scope="col">Time (UTC)</th>${actor ? html`<th scope="col">Actor</th>` : ""}<th scope="col">Action</th><th scope="col">Status</th><th scope="col">Record</th><th scope="col">Source</th><th scope="col">Detail</th></tr></thead>
<tbody>${entries.map((e) => html`<tr><td>${e.seq}</td><td><time datetime="${isoTime(e.time)}">${isoTime(e.time)}</time></td>${actor ? html`<td>${e.actor}</td>` : ""}<td>${e.action}</td><td>${e.status}</td><td class="mono">${e.recordId ?? ""}</td><td>${e.source ?? ""}</td><td class="wrap">${detailText(e.detail)}</td></tr>`)}</tbody>
</table></div>`;
}

export function verifyOutcome(v: LastVerify | undefined): Html {
  if (!v) return html`<p>Not verified from the console since this server started.</p>`;
  const r = v.result;
  return html`<p role="status">Last verification at <time datetime="${isoTime(v.at)}">${isoTime(v.at)}</time> by ${v.by}:
${r.ok ? html`<span class="status-ok">intact</span>, ${r.entries} entries, ${r.checkpoints} signed checkpoints.` : html`<span class="status-bad">FAILED</span> at entry ${r.seq}: ${r.problem}`}</p>`;
}

export function verifyForm(csrf: string): Html {
  return html`<form class="inline" method="post" action="/admin/audit/verify">${csrfField(csrf)}<button type="submit">Verify the audit chain now</button></form>`;
}

export async function auditBody(svc: ConsoleService, q: AuditQuery, csrf: string): Promise<Html> {
  const [entries, actions] = await Promise.all([svc.audit.search(auditFilter(q)), svc.audit.actions()]);
  return html`<form class="filters" method="get" action="/admin/audit" role="search" aria-label="Filter audit entries">
${field("f-identity", "Identity (actor)", html`<input id="f-identity" name="identity" value="${q.identity}" maxlength="300">`)}
${field("f-action", "Action", html`<select id="f-action" name="action"><option value="">any</option>${actions.map((a) => html`<option${a === q.action ? html` selected` : ""}>${a}</option>`)}</select>`)}
${field("f-from", "From (UTC)", html`<input id="f-from" name="from" type="datetime-local" step="1" value="${q.from}">`)}
${field("f-to", "To (UTC)", html`<input id="f-to" name="to" type="datetime-local" step="1" value="${q.to}">`)}
<button type="submit">Filter</button>
</form>
${entriesTable(entries, `Newest first, at most ${AUDIT_PAGE_ROWS} entries`)}
<section aria-labelledby="h-verify"><h2 id="h-verify">Verify</h2>
<p>Checks the whole hash chain, every signed checkpoint and the anchor kept outside the database, as <code>certvault audit verify</code> does.</p>
${verifyOutcome(svc.lastVerify)}
${verifyForm(csrf)}
</section>`;
}
