/**
 * The one error hierarchy of certvault. Every failure that crosses a module boundary is a CertvaultError with a
 * stable snake_case `code` (part of the public interface: HTTP bodies, CLI messages, SDK errors), an HTTP `status`
 * used by the server's single error mapper, and a message that is safe to show: never a key, a passphrase or
 * record content.
 */
import { storageFault } from "./storage-faults.js";

export class CertvaultError extends Error {
  static readonly code: string = "internal_error";
  readonly code: string;
  /** HTTP status the server answers with. */
  readonly status: number;
  /** CLI exit status: 1 refused/failed, 2 usage. */
  readonly exitCode: 1 | 2;

  constructor(message: string, opts: { status?: number; exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = (new.target as typeof CertvaultError).code;
    this.status = opts.status ?? 500;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Bad command-line usage or configuration (exit 2). */
export class UsageError extends CertvaultError {
  static override readonly code: string = "usage_error";
  constructor(message: string) {
    super(message, { status: 400, exitCode: 2 });
  }
}

/** Input that cannot be parsed or is structurally invalid (400). */
export class InvalidInputError extends CertvaultError {
  static override readonly code: string = "invalid_input";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { status: 400, ...opts });
  }
}

export class NotFoundError extends CertvaultError {
  static override readonly code: string = "not_found";
  constructor(message = "not found") {
    super(message, { status: 404 });
  }
}

/** If-Match named a version the record no longer has: someone else wrote it first. */
export class PreconditionFailedError extends CertvaultError {
  static override readonly code: string = "precondition_failed";
  constructor(message = "the record changed since that version was read; fetch it again and retry") {
    super(message, { status: 412 });
  }
}

/** A grant without the owner's signed statement for exactly this record and grantee. */
export class InvalidGrantError extends CertvaultError {
  static override readonly code: string = "invalid_grant";
  constructor(message: string) {
    super(message, { status: 400 });
  }
}

export class ConflictError extends CertvaultError {
  static override readonly code: string = "conflict";
  constructor(message: string) {
    super(message, { status: 409 });
  }
}

export class PayloadTooLargeError extends CertvaultError {
  static override readonly code: string = "payload_too_large";
  constructor(message = "body exceeds the size limit") {
    super(message, { status: 413 });
  }
}

/** A wrong passphrase, or an encrypted key file that cannot be decrypted. */
export class BadPassphraseError extends CertvaultError {
  static override readonly code: string = "bad_passphrase";
  constructor(message = "wrong passphrase, or the key file is damaged") {
    super(message, { status: 400 });
  }
}

/** A passphrase is needed but none can be obtained (non-interactive, no file, no env): a usage error. */
export class PassphraseRequiredError extends CertvaultError {
  static override readonly code: string = "passphrase_required";
  constructor(message = "a passphrase is required: use --passphrase-file FILE or CERTVAULT_PASSPHRASE") {
    super(message, { status: 400, exitCode: 2 });
  }
}

// ---- CA --------------------------------------------------------------------------------------------------------

/** A CSR or certificate request the CA refuses (bad signature, weak key, unknown curve, malformed). */
export class CsrRejectedError extends CertvaultError {
  static override readonly code: string = "csr_rejected";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { status: 400, ...opts });
  }
}

export class CaExistsError extends CertvaultError {
  static override readonly code: string = "ca_exists";
  constructor(message: string) {
    super(message, { status: 409 });
  }
}

export class CaMissingError extends CertvaultError {
  static override readonly code: string = "ca_missing";
  constructor(message: string) {
    super(message, { status: 500 });
  }
}

export class CertificateNotFoundError extends CertvaultError {
  static override readonly code: string = "certificate_not_found";
  constructor(message: string) {
    super(message, { status: 404 });
  }
}

export class AlreadyRevokedError extends CertvaultError {
  static override readonly code: string = "already_revoked";
  constructor(message: string) {
    super(message, { status: 409 });
  }
}

// ---- authentication (server) -----------------------------------------------------------------------------------

export class ClientCertificateRequiredError extends CertvaultError {
  static override readonly code: string = "client_certificate_required";
  constructor(message = "a client certificate issued by this CA is required") {
    super(message, { status: 401 });
  }
}

/** A certificate that chains to us but may not be used here (EKU, CA:TRUE, validity). */
export class CertificateNotAllowedError extends CertvaultError {
  static override readonly code: string = "certificate_not_allowed";
  constructor(message: string) {
    super(message, { status: 403 });
  }
}

/** A certificate whose identity (CN) is outside the safe set of names (issued before the rule): refused at login. */
export class IdentityNotAllowedError extends CertvaultError {
  static override readonly code: string = "identity_not_allowed";
  constructor(message: string) {
    super(message, { status: 403 });
  }
}

export class CertificateRevokedError extends CertvaultError {
  static override readonly code: string = "certificate_revoked";
  constructor(message = "this certificate has been revoked") {
    super(message, { status: 403 });
  }
}

/** An enrollment token that is unknown, altered, used, expired or revoked: one answer for all, nothing issued. */
export class InvalidTokenError extends CertvaultError {
  static override readonly code: string = "invalid_token";
  constructor(message = "the enrollment token is not valid (unknown, already used, expired or revoked)") {
    super(message, { status: 401 });
  }
}

/** The enrollment server's root is not the one whose fingerprint the admin gave: nothing was sent to it. */
export class RootPinMismatchError extends CertvaultError {
  static override readonly code: string = "root_pin_mismatch";
  constructor(message: string) {
    super(message, { status: 502 });
  }
}

export class ServiceUnavailableError extends CertvaultError {
  static override readonly code: string = "service_unavailable";
  constructor(message: string) {
    super(message, { status: 503 });
  }
}

/** The database cannot be reached or written for now (stopped, restarting, read-only, I/O error): retry later. */
export class DatabaseUnavailableError extends CertvaultError {
  static override readonly code: string = "database_unavailable";
  readonly retryAfterSeconds = 2;
  constructor(message = "the database is unavailable; retry later", opts: { cause?: unknown } = {}) {
    super(message, { status: 503, ...opts });
  }
}

/** The database's disk or filesystem is full: nothing was stored; retry once an operator has made room. */
export class StorageFullError extends CertvaultError {
  static override readonly code: string = "storage_full";
  readonly retryAfterSeconds = 30;
  constructor(
    message = "the database's storage is full; nothing was stored, retry later",
    opts: { cause?: unknown } = {},
  ) {
    super(message, { status: 503, ...opts });
  }
}

// ---- Audit and abuse controls ------------------------------------------------------------------------------------

/** The audit entry could not be written: the request is refused rather than served unrecorded. */
export class AuditUnavailableError extends CertvaultError {
  static override readonly code: string = "audit_unavailable";
  constructor(message = "the audit log cannot be written; the request was not carried out") {
    super(message, { status: 503 });
  }
}

export class RateLimitedError extends CertvaultError {
  static override readonly code: string = "rate_limited";
  constructor(readonly retryAfterSeconds: number) {
    super(`too many requests; retry after ${retryAfterSeconds} s`, { status: 429 });
  }
}

/** Renewals (POST /v1/certificates) of one identity over its budget (--renewal-limit); Retry-After says when one frees. */
export class RenewalLimitedError extends RateLimitedError {
  static override readonly code: string = "renewal_limited";
  constructor(retryAfterSeconds: number, limit: string) {
    super(retryAfterSeconds);
    this.message = `this identity has used its certificate requests (${limit}); retry after ${retryAfterSeconds} s, or ask an administrator`;
  }
}

/** Self-revocations (DELETE /v1/certificates/:serial) of one identity over its budget (--self-revocation-limit). */
export class SelfRevocationLimitedError extends RateLimitedError {
  static override readonly code: string = "self_revocation_limited";
  constructor(retryAfterSeconds: number, limit: string) {
    super(retryAfterSeconds);
    this.message = `this identity has used its self-revocations (${limit}); retry after ${retryAfterSeconds} s, or ask an administrator to revoke (certvault ca revoke)`;
  }
}

/** One identity has --max-concurrent-requests requests in flight on this node already; Retry-After: 1. */
export class ConcurrencyLimitedError extends RateLimitedError {
  static override readonly code: string = "concurrency_limited";
  constructor(limit: number) {
    super(1);
    this.message = `this identity already has ${limit} requests in flight; retry after 1 s`;
  }
}

/** The server has not yet loaded the registry, the revoked set and the CRL once: it admits nobody until it has. */
export class NotReadyError extends CertvaultError {
  static override readonly code: string = "not_ready";
  constructor(message = "the server has not loaded the certificate registry and revocations yet; retry shortly") {
    super(message, { status: 503 });
  }
}

export class IdentityQuarantinedError extends CertvaultError {
  static override readonly code: string = "identity_quarantined";
  constructor() {
    super("this identity is quarantined after unusual activity; an administrator must release it", { status: 403 });
  }
}

export class AdminRequiredError extends CertvaultError {
  static override readonly code: string = "admin_required";
  constructor() {
    super("this endpoint is for administrator identities only", { status: 403 });
  }
}

/** An operator console action (a POST) without this session's anti-CSRF token, or not from the console's origin. */
export class CsrfRejectedError extends CertvaultError {
  static override readonly code: string = "csrf_rejected";
  constructor(message = "the form is not from this console session; reload the page and try again") {
    super(message, { status: 403 });
  }
}

export class AuditVerificationError extends CertvaultError {
  static override readonly code: string = "audit_tampered";
  constructor(
    readonly seq: number,
    message: string,
  ) {
    super(message, { exitCode: 1 });
  }
}

/** The stored audit chain does not continue what the audit key signed last: checkpoints stop until someone looks. */
export class AuditChainBrokenError extends CertvaultError {
  static override readonly code: string = "audit_chain_broken";
  constructor(problem: string) {
    super(`refusing to sign an audit checkpoint: ${problem} (run "certvault audit verify")`, { exitCode: 1 });
  }
}

/** `audit verify` found no signed checkpoint from outside the database to start from (and was not told --hashes-only). */
export class AuditAnchorMissingError extends CertvaultError {
  static override readonly code: string = "audit_anchor_missing";
  constructor(message: string) {
    super(message, { exitCode: 1 });
  }
}

/** A checkpoint file (HOME/audit/checkpoints.log, anchor.json, an export) that is malformed or not signed by the audit key. */
export class AuditCheckpointFileError extends CertvaultError {
  static override readonly code: string = "audit_checkpoints_invalid";
  constructor(message: string) {
    super(message, { exitCode: 1 });
  }
}

/** Recovery is set up, and a client-sealed upload is not sealed to the recovery certificate too. */
export class RecoveryRecipientMissingError extends CertvaultError {
  static override readonly code: string = "recovery_recipient_missing";
  constructor() {
    super('records must also be sealed to the recovery certificate (GET /v1/me names it as "recovery")', {
      status: 400,
    });
  }
}

/** Wraps anything that is not a CertvaultError so that nothing else ever reaches a user; the message is generic. */
export function asCertvaultError(err: unknown): CertvaultError {
  if (err instanceof CertvaultError) return err;
  // The one mapping of driver errors (errors/storage-faults.ts): a database that is down or full is a 503, not a bug.
  const fault = storageFault(err);
  if (fault === "full") return new StorageFullError(undefined, { cause: err });
  if (fault === "unavailable") return new DatabaseUnavailableError(undefined, { cause: err });
  return new CertvaultError("internal error", { cause: err });
}

// ---- HTTP API input --------------------------------------------------------------------------------------------

export class InvalidIdError extends CertvaultError {
  static override readonly code: string = "invalid_id";
  constructor(message = "the record id is malformed") {
    super(message, { status: 400 });
  }
}

export class InvalidQueryError extends CertvaultError {
  static override readonly code: string = "invalid_query";
  constructor(message: string) {
    super(message, { status: 400 });
  }
}

/** A client-sealed upload that is not one of the caller's envelopes. */
export class NotARecipientError extends CertvaultError {
  static override readonly code: string = "not_a_recipient";
  constructor(message = "none of the envelope's recipients is a certificate of the caller") {
    super(message, { status: 400 });
  }
}

export class RouteNotFoundError extends CertvaultError {
  static override readonly code: string = "not_found";
  constructor(message = "no such endpoint") {
    super(message, { status: 404 });
  }
}

export class MethodNotAllowedError extends CertvaultError {
  static override readonly code: string = "method_not_allowed";
  constructor(message = "method not allowed on this endpoint") {
    super(message, { status: 405 });
  }
}

/** An `Expect` header other than 100-continue (RFC 9110 10.1.1): nothing else is done with the request. */
export class ExpectationFailedError extends CertvaultError {
  static override readonly code: string = "expectation_failed";
  constructor(message = "only Expect: 100-continue is understood") {
    super(message, { status: 417 });
  }
}

/** Bytes Node's HTTP parser cannot read (server/client-error.ts answers them without a ServerResponse). */
export class MalformedRequestError extends CertvaultError {
  static override readonly code: string = "malformed_request";
  constructor(message = "the request is not well-formed HTTP/1.1") {
    super(message, { status: 400 });
  }
}

export class HeadersTooLargeError extends CertvaultError {
  static override readonly code: string = "headers_too_large";
  constructor(message = "the request headers are too large") {
    super(message, { status: 431 });
  }
}

export class RequestTimeoutError extends CertvaultError {
  static override readonly code: string = "request_timeout";
  constructor(message = "the request did not arrive in time") {
    super(message, { status: 408 });
  }
}

// ---- PKCS#11 (CA keys in a token) ------------------------------------------------------------------------------

/** The CA's keys are in a PKCS#11 token and no PIN can be obtained (no file, no env, not interactive): a usage error. */
export class Pkcs11PinRequiredError extends CertvaultError {
  static override readonly code: string = "pkcs11_pin_required";
  constructor(
    message = "the CA's keys are in a PKCS#11 token: give its PIN with --pkcs11-pin-file FILE, CERTVAULT_PKCS11_PIN_FILE or CERTVAULT_PKCS11_PIN",
  ) {
    super(message, { status: 400, exitCode: 2 });
  }
}

/** The token, or a key in it, cannot be found or used (wrong module, label, PIN, or a key that does not match its certificate). */
export class Pkcs11TokenError extends CertvaultError {
  static override readonly code: string = "pkcs11_token_error";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { status: 500, ...opts });
  }
}

// ---- Backup and restore ------------------------------------------------------------------------------------------

/** A backup file that is not one, is damaged or altered, or does not match its manifest: nothing is restored. */
export class BackupInvalidError extends CertvaultError {
  static override readonly code: string = "backup_invalid";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { status: 400, ...opts });
  }
}

/** `certvault restore` onto a database that already exists: refused before anything is written. */
export class RestoreTargetExistsError extends CertvaultError {
  static override readonly code: string = "restore_target_exists";
  constructor(message: string) {
    super(message, { status: 409 });
  }
}

/** Restoring needs the audit public key (HOME/audit/audit.pub) to check the backup's signed checkpoints. */
export class AuditKeyMissingError extends CertvaultError {
  static override readonly code: string = "audit_key_missing";
  constructor(message: string) {
    super(message, { status: 500 });
  }
}

/** `certvault backup`/`restore` of a database they do not handle (PostgreSQL: pg_dump/pg_restore, docs/deploy.md). */
export class BackupUnsupportedError extends CertvaultError {
  static override readonly code: string = "backup_unsupported";
  constructor(message: string) {
    super(message, { status: 400 });
  }
}
