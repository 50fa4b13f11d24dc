/**
 * One-time enrollment tokens (`certvault ca token`): the active ones with a Revoke action each, and the latest that
 * were used, expired or revoked. Only the fields `ca token --list` prints: never a token, never its hash.
 */
import { html } from "../html.js";
import type { Html } from "../html.js";
import { csrfField } from "../layout.js";
import type { TokenView } from "../../../ca/enrollment.js";
import type { ConsoleService } from "../service.js";

const INACTIVE_ROWS = 50;

/** "2026-01-02T03:04:05.678Z" as the other pages print times: to the second. */
const time = (iso: string | null): Html | string =>
  iso === null ? "" : html`<time datetime="${iso}">${iso.replace(/\.\d{3}Z$/, "Z")}</time>`;

function revokeForm(t: TokenView, csrf: string): Html {
  return html`<form class="inline" method="post" action="/admin/tokens/revoke">${csrfField(csrf)}<input type="hidden" name="id" value="${t.id}">
<button type="submit" class="danger" aria-label="Revoke enrollment token ${t.id} (${t.identity})">Revoke</button></form>`;
}

const HEAD = html`<th scope="col">Token id</th><th scope="col">Identity</th><th scope="col">Created (UTC)</th><th scope="col">Expires (UTC)</th><th scope="col">Status</th>`;

export async function tokensBody(svc: ConsoleService, csrf: string): Promise<Html> {
  const all = await svc.tokenViews();
  const active = all.filter((t) => t.status === "active").sort((a, b) => a.expiresAt.localeCompare(b.expiresAt));
  const inactive = all
    .filter((t) => t.status !== "active")
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, INACTIVE_ROWS);
  return html`<p>Tokens are made with <code>certvault ca token --name IDENTITY</code> and shown only then; this server keeps only their SHA-256.</p>
<section aria-labelledby="h-active"><h2 id="h-active">Active</h2>
${
  active.length === 0
    ? html`<p>No token can be used now.</p>`
    : html`<div class="table-wrap"><table><thead><tr>${HEAD}<th scope="col">Action</th></tr></thead>
<tbody>${active.map((t) => html`<tr><td class="mono">${t.id}</td><td class="wrap">${t.identity}</td><td>${time(t.createdAt)}</td><td>${time(t.expiresAt)}</td><td>${t.status}</td><td>${revokeForm(t, csrf)}</td></tr>`)}</tbody></table></div>`
}
</section>
<section aria-labelledby="h-inactive"><h2 id="h-inactive">Used, expired or revoked (the latest ${INACTIVE_ROWS})</h2>
${
  inactive.length === 0
    ? html`<p>None.</p>`
    : html`<div class="table-wrap"><table><thead><tr>${HEAD}<th scope="col">Certificate</th></tr></thead>
<tbody>${inactive.map((t) => html`<tr><td class="mono">${t.id}</td><td class="wrap">${t.identity}</td><td>${time(t.createdAt)}</td><td>${time(t.expiresAt)}</td><td>${t.status}</td><td class="mono">${t.serial ?? ""}</td></tr>`)}</tbody></table></div>`
}
</section>`;
}
