/**
 * Cross-site request forgery defence for the console. A browser sends the admin's client certificate to this origin
 * whatever page asked for the request, so the certificate alone proves nothing about intent. Every POST needs:
 *  - an Origin header equal to the console's own origin (https://HOST the request was sent to); none is refused;
 *  - a token from this console session: HMAC-SHA256(server secret, certificate fingerprint || session nonce), the
 *    nonce in a __Host- cookie (Secure, HttpOnly, SameSite=Strict). A token is bound to one certificate and one
 *    session; the secret lives in this process only, so tokens end when the server restarts.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Context } from "koa";
import type { TLSSocket } from "node:tls";
import { CsrfRejectedError } from "../../errors/index.js";
import { peerCertificate } from "../tls/peer-certificate.js";

export const SESSION_COOKIE = "__Host-certvault-console";
const NONCE = /^[0-9a-f]{32}$/;

function fingerprint(ctx: Context): string {
  const cert = peerCertificate(ctx.req.socket as TLSSocket);
  if (!cert) throw new CsrfRejectedError("no client certificate on this connection");
  return cert.fingerprint256;
}

function cookieNonce(ctx: Context): string | undefined {
  for (const part of ctx.get("cookie").split(";")) {
    const [name, value] = part.trim().split("=", 2);
    if (name === SESSION_COOKIE && value !== undefined && NONCE.test(value)) return value;
  }
  return undefined;
}

export class CsrfGuard {
  private readonly secret = randomBytes(32);

  private tokenFor(fp: string, nonce: string): string {
    return createHmac("sha256", this.secret).update(`${fp}\n${nonce}`).digest("base64url");
  }

  /** The token for this page's forms; starts a session (sets the cookie) when the browser has none. */
  token(ctx: Context): string {
    let nonce = cookieNonce(ctx);
    if (!nonce) {
      nonce = randomBytes(16).toString("hex");
      ctx.append("Set-Cookie", `${SESSION_COOKIE}=${nonce}; Path=/; Secure; HttpOnly; SameSite=Strict`);
    }
    return this.tokenFor(fingerprint(ctx), nonce);
  }

  /** Throws CsrfRejectedError unless the POST comes from the console's own origin with this session's token. */
  check(ctx: Context, submitted: string | null): void {
    const host = ctx.get("host");
    const origin = ctx.get("origin");
    if (origin === "") throw new CsrfRejectedError("a console action needs an Origin header");
    if (host === "" || origin !== `https://${host}`)
      throw new CsrfRejectedError("a console action must come from the console's own origin");
    const site = ctx.get("sec-fetch-site");
    if (site !== "" && site !== "same-origin")
      throw new CsrfRejectedError("a console action must come from the console's own origin");
    const nonce = cookieNonce(ctx);
    if (!nonce || !submitted) throw new CsrfRejectedError();
    const expected = Buffer.from(this.tokenFor(fingerprint(ctx), nonce));
    const given = Buffer.from(submitted);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new CsrfRejectedError();
  }
}
