/**
 * SDK-side errors. A server's error answer is rebuilt into the class of its code (server-errors.ts): a `not_found`
 * answer is a NotFoundError, as on the server. The SDK's own refusals (trust failures, no answer) have codes of scope
 * `client` in errors/registry.ts: they are never an HTTP answer, so their `status` is null, not a made-up 502.
 */
import { coded } from "../errors/index.js";

/** Errors rebuilt from a server's answer: what `instanceof ServerError` recognises. */
const answered = new WeakSet<object>();

/** Marks `err` as the server's answer (status and code as the server sent them). */
export function markAnswered<E extends object>(err: E, serverCode: string): E & { serverCode: string } {
  answered.add(err);
  return Object.assign(err, { serverCode });
}

/**
 * An error answer from the server. `err instanceof ServerError` holds for every error rebuilt from an answer, whatever
 * its class; `status` is the HTTP status and `serverCode` the code as the server sent them. An answer whose code this
 * SDK does not know (or that is not JSON) is a ServerError itself, code `server_error`.
 */
export class ServerError extends coded("server_error") {
  static override [Symbol.hasInstance](x: unknown): x is ServerError {
    return typeof x === "object" && x !== null && answered.has(x);
  }
  declare readonly status: number;
  declare readonly serverCode: string;
  constructor(status: number, serverCode: string, message: string) {
    super(message);
    (this as { status: number }).status = status;
    markAnswered(this, serverCode);
  }
}

/** An answer that is not what certvault expects (not JSON, fields missing, a certificate that does not fit). */
export class BadAnswerError extends coded("bad_answer") {}
/** A certificate the SDK refuses to seal to (not from the pinned CA, wrong usage, expired, another identity). */
export class UntrustedCertificateError extends coded("untrusted_certificate") {}
/** No answer arrived (after the retries). */
export class ConnectionError extends coded("connection_failed") {}
/** The server says this client is someone else than its own certificate says (GET /v1/me). */
export class IdentityMismatchError extends coded("identity_mismatch") {}
/**
 * A record the SDK will not return: not signed, signed by someone who is not its owner (or by the server when that is
 * refused), bound to another id or owner, or signed with a certificate that was revoked or expired at the time.
 */
export class UntrustedRecordError extends coded("untrusted_record") {}
/** A record with no signature (stored before signed records, or forged with `openssl cms -encrypt`). */
export class UnsignedRecordError extends coded("unsigned_record", UntrustedRecordError) {}
/** A record the server sealed (from a plaintext upload), refused because the client asked for owner-signed only. */
export class ServerSealedRecordError extends coded("server_sealed_record", UntrustedRecordError) {}
/** A grant the owner did not sign (an inserted row, a statement for another record or grantee). */
export class UntrustedGrantError extends coded("untrusted_grant") {}
/** The CRL the server served does not verify against the pinned CA, is stale, or is older than one seen before. */
export class UntrustedCrlError extends coded("untrusted_crl") {}
/** The recovery certificate the server names is not the one pinned in the profile (or none is pinned yet). */
export class RecoveryPinError extends coded("recovery_not_pinned") {}
