/**
 * The operator console under /admin/, part of the one route table (server/routes.ts): every path names its
 * audit action (as data), sets the console's security headers, and is for administrator identities only (anyone else: 403 on
 * every /admin path, existing or not). Pages are GETs; every change is a POST that passes the CSRF guard first and
 * then answers 303 back to its page (post/redirect/get). The table is here; how a page or an action route is built
 * (headers, frame, CSRF, notices) is console-kit.ts.
 */
import { RouteNotFoundError } from "../../errors/index.js";
import type { RouteSpec } from "../route-runner.js";
import type { AppMiddleware } from "../state.js";
import { CsrfGuard } from "./csrf.js";
import { ConsoleService } from "./service.js";
import type { ConsoleDeps } from "./service.js";
import { CONSOLE_CSS } from "./style.js";
import { act, consoleHeaders, q, view } from "./console-kit.js";
import type { Back, ConsoleKit, Run } from "./console-kit.js";
import { overviewBody } from "./pages/overview.js";
import { certificatesBody } from "./pages/certificates.js";
import { requestsBody } from "./pages/requests.js";
import { quarantinesBody } from "./pages/quarantines.js";
import { tokensBody } from "./pages/tokens.js";
import { auditBody } from "./pages/audit.js";

function pageRoutes(k: ConsoleKit): RouteSpec[] {
  const { svc } = k;
  return [
    view(k, "/admin/", "admin.overview", "Overview", (_ctx, t) => overviewBody(svc, t)),
    view(k, "/admin/certificates", "admin.certificates", "Certificates", (ctx, t) =>
      certificatesBody(svc, q(ctx, "q").trim(), t),
    ),
    view(k, "/admin/requests", "admin.requests", "Renewal requests", (_ctx, t) => requestsBody(svc, t)),
    view(k, "/admin/tokens", "admin.tokens", "Enrollment tokens", (_ctx, t) => tokensBody(svc, t)),
    view(k, "/admin/quarantines", "admin.quarantines", "Quarantines", (_ctx, t) => quarantinesBody(svc, t)),
    view(k, "/admin/audit", "admin.audit", "Audit", (ctx, t) =>
      auditBody(
        svc,
        { identity: q(ctx, "identity"), action: q(ctx, "action"), from: q(ctx, "from"), to: q(ctx, "to") },
        t,
      ),
    ),
  ];
}

/** The pages an action answers on. */
const BACK = {
  certificates: { path: "/admin/certificates", title: "Certificates" },
  requests: { path: "/admin/requests", title: "Renewal requests" },
  tokens: { path: "/admin/tokens", title: "Enrollment tokens" },
  quarantines: { path: "/admin/quarantines", title: "Quarantines" },
  audit: { path: "/admin/audit", title: "Audit" },
} as const satisfies Record<string, Back>;

/** What each console action does, and the notice (NOTICES) it answers with. */
function consoleActions(svc: ConsoleService) {
  return {
    async revoke(f, who) {
      await svc.revoke(who, f.get("serial") ?? "", f.get("reason") ?? "unspecified");
      return "revoked";
    },
    approve: async (f, who) =>
      (await svc.decide(who, f.get("id") ?? "", "approve", f.get("days") ?? undefined)).status === "issued"
        ? "approved"
        : "rejected",
    reject: async (f, who) => (await svc.decide(who, f.get("id") ?? "", "reject")).status,
    async revokeToken(f, who) {
      await svc.revokeToken(who, f.get("id") ?? "");
      return "token-revoked";
    },
    release: async (f, who) => ((await svc.release(who, f.get("identity") ?? "")) ? "released" : "not-quarantined"),
    async verify(_f, who) {
      await svc.verify(who);
      return "verified";
    },
  } satisfies Record<string, Run>;
}

function actionRoutes(k: ConsoleKit): RouteSpec[] {
  const run = consoleActions(k.svc);
  return [
    act(k, "/admin/certificates/revoke", "admin.certificates.revoke", BACK.certificates, run.revoke),
    act(k, "/admin/requests/approve", "admin.requests.approve", BACK.requests, run.approve),
    act(k, "/admin/requests/reject", "admin.requests.reject", BACK.requests, run.reject),
    act(k, "/admin/tokens/revoke", "admin.tokens.revoke", BACK.tokens, run.revokeToken),
    act(k, "/admin/quarantines/release", "admin.quarantines.release", BACK.quarantines, run.release),
    act(k, "/admin/audit/verify", "admin.audit.verify", BACK.audit, run.verify),
  ];
}

/** The stylesheet, and everything else under /admin. */
function otherRoutes(guards: AppMiddleware[]): RouteSpec[] {
  const asset: RouteSpec = {
    method: "GET",
    path: "/admin/console.css",
    action: "admin.asset",
    kind: "other",
    guards,
    handle(ctx) {
      ctx.type = "text/css; charset=utf-8";
      ctx.body = CONSOLE_CSS;
    },
  };
  // Everything else under /admin: 403 for non-admins (before anything else is said), 404 or a redirect for admins.
  const rest: RouteSpec = {
    method: "ALL",
    path: ["/admin", "/admin/", "/admin/*rest"],
    action: "admin.other",
    kind: "other",
    guards,
    handle(ctx) {
      if (ctx.path === "/admin" && (ctx.method === "GET" || ctx.method === "HEAD")) return ctx.redirect("/admin/");
      throw new RouteNotFoundError();
    },
  };
  return [asset, rest];
}

/** The console's routes; `admin` is the admin gate (admin-gate.ts), run after the console's headers are set. */
export function consoleRoutes(deps: ConsoleDeps, admin: AppMiddleware): RouteSpec[] {
  const k: ConsoleKit = { svc: new ConsoleService(deps), csrf: new CsrfGuard(), guards: [consoleHeaders, admin] };
  return [...pageRoutes(k), ...actionRoutes(k), ...otherRoutes(k.guards)];
}
