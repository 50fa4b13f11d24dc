/**
 * How a console route is built (router.ts holds the console's table): its security headers, the fixed notices, the
 * page frame, and the two kinds of route: a page (a GET rendered in the frame) and an action (a form POST that passes
 * the CSRF guard, then answers 303 back to its page, or shows a refusal there).
 */
import type { Next } from "koa";
import { CertvaultError, InvalidInputError } from "../../errors/index.js";
import { readBody } from "../body.js";
import type { RouteSpec } from "../route-runner.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";
import type { CsrfGuard } from "./csrf.js";
import { page } from "./layout.js";
import type { Frame, PagePath } from "./layout.js";
import { html } from "./html.js";
import type { Html } from "./html.js";
import type { ConsoleService } from "./service.js";

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

export async function consoleHeaders(ctx: AppContext, next: Next): Promise<void> {
  ctx.set(CONSOLE_HEADERS);
  await next();
}

export function q(ctx: AppContext, name: string): string {
  const v = ctx.query[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

async function readForm(ctx: AppContext): Promise<URLSearchParams> {
  if (ctx.get("content-type").split(";")[0]?.trim().toLowerCase() !== "application/x-www-form-urlencoded") {
    throw new InvalidInputError("a console action is a form post (application/x-www-form-urlencoded)");
  }
  return new URLSearchParams(new TextDecoder("utf-8", { fatal: true }).decode(await readBody(ctx, MAX_FORM_BYTES)));
}

/** What every console route is built with: the service, the CSRF guard, the guards (headers, then the admin gate). */
export interface ConsoleKit {
  svc: ConsoleService;
  csrf: CsrfGuard;
  guards: AppMiddleware[];
}

function frame(ctx: AppContext, path: PagePath, title: string, problem?: string): Frame {
  return { title, path, admin: callerOf(ctx).identity, notice: NOTICES[q(ctx, "done")], problem };
}

function send(ctx: AppContext, f: Frame, body: Html): void {
  ctx.type = "text/html; charset=utf-8";
  ctx.body = page(f, body).text;
}

/** A page: a GET that renders `body` in the console's frame. */
export function view(
  k: ConsoleKit,
  path: PagePath,
  action: string,
  title: string,
  body: (ctx: AppContext, token: string) => Promise<Html>,
): RouteSpec {
  return {
    method: "GET",
    path,
    action,
    kind: "other",
    guards: k.guards,
    handle: async (ctx) => send(ctx, frame(ctx, path, title), await body(ctx, k.csrf.token(ctx))),
  };
}

/** Where an action answers: the page it goes back to, and that page's title. */
export interface Back {
  path: PagePath;
  title: string;
}
export type Run = (form: URLSearchParams, admin: string) => Promise<string>;

/** A POST: CSRF guard, the action, then 303 to `back` with a notice; a refusal is shown on `back`'s frame. */
export function act(k: ConsoleKit, path: string, action: string, back: Back, run: Run): RouteSpec {
  return {
    method: "POST",
    path,
    action,
    kind: "other",
    guards: k.guards,
    async handle(ctx, caller) {
      const form = await readForm(ctx);
      k.csrf.check(ctx, form.get("csrf"));
      try {
        const done = await run(form, caller.identity);
        ctx.status = 303;
        ctx.redirect(`${back.path}?done=${done}`);
      } catch (err) {
        // Only a message a client may see (below 500); anything else goes to the error mapper.
        if (!(err instanceof CertvaultError) || !err.expose || err.status === null) throw err;
        ctx.status = err.status;
        const link = html`<p><a href="${back.path}">Back to ${back.title}</a></p>`;
        send(ctx, frame(ctx, back.path, back.title, err.message), link);
      }
    },
  };
}
