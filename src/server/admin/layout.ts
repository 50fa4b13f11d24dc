/** The console's page frame: skip link, navigation, who is signed in, a notice, the page's own content. */
import { html } from "./html.js";
import type { Html } from "./html.js";

export const PAGES = [
  { path: "/admin/", label: "Overview" },
  { path: "/admin/certificates", label: "Certificates" },
  { path: "/admin/requests", label: "Renewal requests" },
  { path: "/admin/tokens", label: "Enrollment tokens" },
  { path: "/admin/quarantines", label: "Quarantines" },
  { path: "/admin/audit", label: "Audit" },
] as const;

export type PagePath = (typeof PAGES)[number]["path"];

export interface Frame {
  title: string;
  path: PagePath;
  admin: string;
  /** A fixed message chosen by the server after an action (never text from the request). */
  notice?: string | undefined;
  problem?: string | undefined;
}

export function page(frame: Frame, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · certvault console</title>
<link rel="stylesheet" href="/admin/console.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<strong>certvault console</strong>
<nav aria-label="Console"><ul>${PAGES.map((p) => html`<li><a href="${p.path}"${p.path === frame.path ? html` aria-current="page"` : ""}>${p.label}</a></li>`)}</ul></nav>
<span class="who">Signed in as <strong>${frame.admin}</strong> (client certificate)</span>
</header>
<main id="main" tabindex="-1">
<h1>${frame.title}</h1>
${frame.notice ? html`<p class="flash" role="status">${frame.notice}</p>` : ""}
${frame.problem ? html`<p class="problem" role="alert">${frame.problem}</p>` : ""}
${body}
</main>
</body>
</html>
`;
}

/** The hidden anti-CSRF field every state-changing form carries. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="csrf" value="${token}">`;
}

/** A labelled control: the label names the control alone (a control inside its label would add its own text). */
export function field(id: string, label: string, control: Html): Html {
  return html`<div class="field"><label for="${id}">${label}</label>${control}</div>`;
}
