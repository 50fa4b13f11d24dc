/** Certificates: search by identity or serial, status, revoke with a reason. Never the PEM or a key. */
import { html, isoTime } from "../html.js";
import type { Html } from "../html.js";
import { csrfField, field } from "../layout.js";
import { REASONS } from "../../../ca/reasons.js";
import { statusAt } from "../../../store/certificates.js";
import type { CertificateRecord } from "../../../store/certificates.js";
import type { ConsoleService } from "../service.js";

const ROWS = 100;

function revokeForm(c: CertificateRecord, csrf: string): Html {
  const id = `reason-${c.serial}`;
  return html`<form class="inline" method="post" action="/admin/certificates/revoke">${csrfField(csrf)}
<input type="hidden" name="serial" value="${c.serial}">
${field(id, "Reason", html`<select id="${id}" name="reason">${Object.keys(REASONS).map((r) => html`<option>${r}</option>`)}</select>`)}
<button type="submit" class="danger" aria-label="Revoke ${c.serial} (${c.identity})">Revoke</button>
</form>`;
}

function row(c: CertificateRecord, now: Date, csrf: string): Html {
  const status = statusAt(c, now);
  return html`<tr>
<td class="mono">${c.serial}</td><td>${c.identity}</td><td>${c.profile}</td><td>${c.keyType}</td>
<td>${isoTime(c.notBefore)}</td><td>${isoTime(c.notAfter)}</td>
<td><span class="${status === "active" ? "status-ok" : "status-bad"}">${status}</span>${c.revokedAt ? html`<br>${isoTime(c.revokedAt)}, ${c.revocationReason ?? ""}` : ""}</td>
<td>${status === "revoked" ? "" : revokeForm(c, csrf)}</td>
</tr>`;
}

export async function certificatesBody(svc: ConsoleService, term: string, csrf: string): Promise<Html> {
  const list = term === "" ? await svc.registry.recent(ROWS) : await svc.registry.search(term, ROWS);
  const now = svc.deps.now();
  return html`<form class="filters" method="get" action="/admin/certificates" role="search" aria-label="Find certificates">
${field("q", "Identity or serial (exact)", html`<input id="q" name="q" value="${term}" maxlength="300">`)}
<button type="submit">Search</button>
${term === "" ? "" : html`<a href="/admin/certificates">Show the newest</a>`}
</form>
${
  list.length === 0
    ? html`<p>No certificate matches.</p>`
    : html`<div class="table-wrap"><table>
<caption>${term === "" ? `The ${ROWS} newest certificates` : `Certificates matching the search`}</caption>
<thead><tr><th scope="col">Serial</th><th scope="col">Identity</th><th scope="col">Profile</th><th scope="col">Key</th><th scope="col">Not before</th><th scope="col">Not after</th><th scope="col">Status</th><th scope="col">Action</th></tr></thead>
<tbody>${list.map((c) => row(c, now, csrf))}</tbody></table></div>`
}`;
}
