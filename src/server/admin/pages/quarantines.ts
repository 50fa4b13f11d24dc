/** Quarantines: the finding, the rule, the identity's recent audit entries, release. */
import { html, isoTime } from "../html.js";
import type { Html } from "../html.js";
import { csrfField } from "../layout.js";
import type { Quarantine } from "../../../store/quarantine.js";
import type { ConsoleService } from "../service.js";
import { entriesTable } from "./audit.js";

const RECENT = 20;

async function one(svc: ConsoleService, q: Quarantine, n: number, csrf: string): Promise<Html> {
  const entries = await svc.audit.search({ actor: q.identity, limit: RECENT });
  return html`<section class="card" aria-labelledby="q-${n}">
<h2 id="q-${n}">${q.identity}</h2>
<dl><dt>Rule</dt><dd>${q.rule}</dd><dt>Finding</dt><dd>${q.reason}</dd><dt>Since (UTC)</dt><dd><time datetime="${isoTime(q.since)}">${isoTime(q.since)}</time></dd></dl>
<form class="inline" method="post" action="/admin/quarantines/release">${csrfField(csrf)}<input type="hidden" name="identity" value="${q.identity}">
<button type="submit" aria-label="Release ${q.identity}">Release</button></form>
${entriesTable(entries, `The last ${RECENT} audit entries of this identity`, { actor: false })}
</section>`;
}

export async function quarantinesBody(svc: ConsoleService, csrf: string): Promise<Html> {
  const list = await svc.quarantine.list();
  if (list.length === 0) return html`<p>No identity is quarantined.</p>`;
  const sections: Html[] = [];
  for (const [i, q] of list.entries()) sections.push(await one(svc, q, i, csrf));
  return html`${sections}`;
}
