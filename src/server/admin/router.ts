/**
 * The operator console under /admin/, part of the one route table (server/routes.ts): every path names its
 * audit action (as data), sets the console's security headers, and is for administrator identities only (anyone else: 403 on
 * every /admin path, existing or not). Pages are GETs; every change is a POST that passes the CSRF guard first and
 * then answers 303 back to its page (post/redirect/get).
 */
import type { Next } from "koa";
import { CertvaultError, InvalidInputError, RouteNotFoundError } from "../../errors/index.js";
import { readBody } from "../body.js";
import type { RouteSpec } from "../route-runner.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";
import { CsrfGuard } from "./csrf.js";
import { page } from "./layout.js";
import type { Frame, PagePath } from "./layout.js";
import { html } from "./html.js";
import type { Html } from "./html.js";
import { ConsoleService } from "./service.js";
import type { ConsoleDeps } from "./service.js";
import { CONSOLE_CSS } from "./style.js";
import { overviewBody } from "./pages/overview.js";
import { certificatesBody } from "./pages/certificates.js";
import { requestsBody } from "./pages/requests.js";
import { quarantinesBody } from "./pages/quarantines.js";
import { tokensBody } from "./pages/tokens.js";
import { auditBody } from "./pages/audit.js";

const MAX_FORM_BYTES = 16 * 1024;

export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  // Not "no-referrer": under it Chromium sends "Origin: null" on the console's own form posts (Fetch: serializing a
  // request origin), which the Origin check must refuse (sandboxed frames send null too). "same-origin" still sends
  // no referrer, and a real Origin, to anything but the console itself.
  "Referrer-Policy": "same-origin",
  "Cache-Control": "no-store",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** Fixed notices after an action, chosen by a key the server itself put in the redirect. */
const NOTICES: Readonly<Record<string, string>> = {
  revoked: "The certificate is revoked. This server refuses it from now on.",
  approved: "The request is approved and the certificate issued.",
  rejected: "The request is rejected.",
  "token-revoked": "The enrollment token is revoked; it can no longer be used to enroll.",
  released: "The identity is released.",
  "not-quarantined": "That identity was not quarantined (released meanwhile?).",
  verified: "The audit chain was verified; the outcome is below.",
};

async function consoleHeaders(ctx: AppContext, next: Next): Promise<void> {
  ctx.set(CONSOLE_HEADERS);
  await next();
}

function q(ctx: AppContext, name: string): string {
  const v = ctx.query[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

async function readForm(ctx: AppContext): Promise<URLSearchParams> {
  if (ctx.get("content-type").split(";")[0]?.trim().toLowerCase() !== "application/x-www-form-urlencoded") {
    throw new InvalidInputError("a console action is a form post (application/x-www-form-urlencoded)");
  }
  return new URLSearchParams(new TextDecoder("utf-8", { fatal: true }).decode(await readBody(ctx, MAX_FORM_BYTES)));
}

/** The console's routes; `admin` is the admin gate (admin-gate.ts), run after the console's headers are set. */
export function consoleRoutes(deps: ConsoleDeps, admin: AppMiddleware): RouteSpec[] {
  const svc = new ConsoleService(deps);
  const csrf = new CsrfGuard();
  const guards = [consoleHeaders, admin];
  const routes: RouteSpec[] = [];
  const frame = (ctx: AppContext, path: PagePath, title: string, problem?: string): Frame => ({
    title,
    path,
    admin: callerOf(ctx).identity,
    notice: NOTICES[q(ctx, "done")],
    problem,
  });
  const send = (ctx: AppContext, f: Frame, body: Html): void => {
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(f, body).text;
  };

  const view = (
    path: PagePath,
    action: string,
    title: string,
    body: (ctx: AppContext, token: string) => Promise<Html>,
  ): void => {
    routes.push({
      method: "GET",
      path,
      action,
      kind: "other",
      guards,
      handle: async (ctx) => send(ctx, frame(ctx, path, title), await body(ctx, csrf.token(ctx))),
    });
  };
  view("/admin/", "admin.overview", "Overview", (_ctx, t) => overviewBody(svc, t));
  view("/admin/certificates", "admin.certificates", "Certificates", (ctx, t) =>
    certificatesBody(svc, q(ctx, "q").trim(), t),
  );
  view("/admin/requests", "admin.requests", "Renewal requests", (_ctx, t) => requestsBody(svc, t));
  view("/admin/tokens", "admin.tokens", "Enrollment tokens", (_ctx, t) => tokensBody(svc, t));
  view("/admin/quarantines", "admin.quarantines", "Quarantines", (_ctx, t) => quarantinesBody(svc, t));
  view("/admin/audit", "admin.audit", "Audit", (ctx, t) =>
    auditBody(
      svc,
      { identity: q(ctx, "identity"), action: q(ctx, "action"), from: q(ctx, "from"), to: q(ctx, "to") },
      t,
    ),
  );

  /** A POST: CSRF guard, the action, then 303 to `back` with a notice; a refusal is shown on `back`'s frame. */
  const act = (
    path: string,
    action: string,
    back: PagePath,
    title: string,
    run: (form: URLSearchParams, admin: string) => Promise<string>,
  ): void => {
    routes.push({
      method: "POST",
      path,
      action,
      kind: "other",
      guards,
      async handle(ctx, caller) {
        const form = await readForm(ctx);
        csrf.check(ctx, form.get("csrf"));
        try {
          const done = await run(form, caller.identity);
          ctx.status = 303;
          ctx.redirect(`${back}?done=${done}`);
        } catch (err) {
          // Only a message a client may see (below 500); anything else goes to the error mapper.
          if (!(err instanceof CertvaultError) || !err.expose || err.status === null) throw err;
          ctx.status = err.status;
          send(ctx, frame(ctx, back, title, err.message), html`<p><a href="${back}">Back to ${title}</a></p>`);
        }
      },
    });
  };
  act(
    "/admin/certificates/revoke",
    "admin.certificates.revoke",
    "/admin/certificates",
    "Certificates",
    async (f, who) => {
      await svc.revoke(who, f.get("serial") ?? "", f.get("reason") ?? "unspecified");
      return "revoked";
    },
  );
  act("/admin/requests/approve", "admin.requests.approve", "/admin/requests", "Renewal requests", async (f, who) =>
    (await svc.decide(who, f.get("id") ?? "", "approve", f.get("days") ?? undefined)).status === "issued"
      ? "approved"
      : "rejected",
  );
  act(
    "/admin/requests/reject",
    "admin.requests.reject",
    "/admin/requests",
    "Renewal requests",
    async (f, who) => (await svc.decide(who, f.get("id") ?? "", "reject")).status,
  );
  act("/admin/tokens/revoke", "admin.tokens.revoke", "/admin/tokens", "Enrollment tokens", async (f, who) => {
    await svc.revokeToken(who, f.get("id") ?? "");
    return "token-revoked";
  });
  act("/admin/quarantines/release", "admin.quarantines.release", "/admin/quarantines", "Quarantines", async (f, who) =>
    (await svc.release(who, f.get("identity") ?? "")) ? "released" : "not-quarantined",
  );
  act("/admin/audit/verify", "admin.audit.verify", "/admin/audit", "Audit", async (_f, who) => {
    await svc.verify(who);
    return "verified";
  });

  routes.push({
    method: "GET",
    path: "/admin/console.css",
    action: "admin.asset",
    kind: "other",
    guards,
    handle(ctx) {
      ctx.type = "text/css; charset=utf-8";
      ctx.body = CONSOLE_CSS;
    },
  });
  // Everything else under /admin: 403 for non-admins (before anything else is said), 404 or a redirect for admins.
  routes.push({
    method: "ALL",
    path: ["/admin", "/admin/", "/admin/*rest"],
    action: "admin.other",
    kind: "other",
    guards,
    handle(ctx) {
      if (ctx.path === "/admin" && (ctx.method === "GET" || ctx.method === "HEAD")) return ctx.redirect("/admin/");
      throw new RouteNotFoundError();
    },
  });
  return routes;
}
