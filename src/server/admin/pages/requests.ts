/** Renewal requests made over the API: approve (the CA issues) or reject. The CSR itself is not shown. */
import { html, isoTime } from "../html.js";
import type { Html } from "../html.js";
import { csrfField, field } from "../layout.js";
import { DEFAULT_DAYS } from "../../../ca/profiles.js";
import { shownStatus } from "../../../store/certificate-requests.js";
import type { CertificateRequest } from "../../../store/certificate-requests.js";
import type { ConsoleService } from "../service.js";

const DECIDED_ROWS = 50;

function decideForms(r: CertificateRequest, csrf: string): Html {
  const days = `days-${r.id}`;
  return html`<form class="inline" method="post" action="/admin/requests/approve">${csrfField(csrf)}<input type="hidden" name="id" value="${r.id}">
${field(days, "Days", html`<input id="${days}" name="days" type="number" min="1" value="${DEFAULT_DAYS.client}" size="4">`)}
<button type="submit" aria-label="Approve request ${r.id} (${r.identity})">Approve</button></form>
<form class="inline" method="post" action="/admin/requests/reject">${csrfField(csrf)}<input type="hidden" name="id" value="${r.id}">
<button type="submit" class="danger" aria-label="Reject request ${r.id} (${r.identity})">Reject</button></form>`;
}

export async function requestsBody(svc: ConsoleService, csrf: string): Promise<Html> {
  const all = await svc.requests.list();
  const now = svc.deps.now();
  const pending = all.filter((r) => r.status === "pending");
  const decided = all
    .filter((r) => r.status !== "pending")
    .sort((a, b) => (b.decidedAt?.getTime() ?? 0) - (a.decidedAt?.getTime() ?? 0))
    .slice(0, DECIDED_ROWS);
  return html`<section aria-labelledby="h-pending"><h2 id="h-pending">Waiting for a decision</h2>
${
  pending.length === 0
    ? html`<p>No request is waiting.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th scope="col">Request</th><th scope="col">Identity</th><th scope="col">Asked with certificate</th><th scope="col">At (UTC)</th><th scope="col">Decision</th></tr></thead>
<tbody>${pending.map((r) => html`<tr><td class="mono">${r.id}</td><td>${r.identity}</td><td class="mono">${r.requestedBy}</td><td>${isoTime(r.createdAt)}</td><td>${decideForms(r, csrf)}</td></tr>`)}</tbody></table></div>`
}
</section>
<section aria-labelledby="h-decided"><h2 id="h-decided">Decided recently</h2>
${
  decided.length === 0
    ? html`<p>None.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th scope="col">Request</th><th scope="col">Identity</th><th scope="col">Status</th><th scope="col">Certificate</th><th scope="col">Decided (UTC)</th></tr></thead>
<tbody>${decided.map((r) => html`<tr><td class="mono">${r.id}</td><td>${r.identity}</td><td>${shownStatus(r, now)}</td><td class="mono">${r.serial ?? ""}</td><td>${isoTime(r.decidedAt)}</td></tr>`)}</tbody></table></div>`
}
</section>`;
}
