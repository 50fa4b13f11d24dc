/**
 * The one error hierarchy of certvault. Every failure that crosses a module boundary is a CertvaultError whose stable
 * snake_case `code` is one of the registry's (errors/registry.ts): the code decides the HTTP status, the CLI's exit
 * status and whether the message may reach an HTTP client. Messages are safe to show: never a key, a passphrase or
 * record content; a 5xx answer still carries only the registry's fixed text (server/errors.ts).
 *
 * A class is one line over the registry: `class X extends coded("x") {}`; a few keep a constructor that formats their
 * message. Envelope errors live in envelope/errors.ts, the SDK's own in client-sdk/errors.ts, on the same root.
 */
import { errorSpec } from "./registry.js";
import type { ErrorCode } from "./registry.js";
import { storageFault } from "./storage-faults.js";

export { ERRORS, errorSpec, isErrorCode, publicMessage } from "./registry.js";
export type { ErrorCode, ErrorScope, ErrorSpec } from "./registry.js";

export class CertvaultError extends Error {
  static readonly code: ErrorCode = "internal_error";
  /** The registry's code: `switch (err.code)` narrows. */
  readonly code: ErrorCode;
  /** HTTP status the server answers with; null for the SDK's own refusals, which are never an HTTP answer. */
  readonly status: number | null;
  /** CLI exit status: 1 refused/failed, 2 usage. */
  readonly exitCode: 1 | 2;
  /** May the message reach an HTTP client (below 500 only, as in koa)? */
  readonly expose: boolean;

  /** `message` defaults to the registry's text for the code. */
  constructor(message?: string, opts: { cause?: unknown } = {}) {
    const code = (new.target as typeof CertvaultError).code;
    const spec = errorSpec(code);
    super(message ?? spec.message ?? code, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = spec.status;
    this.exitCode = spec.exit;
    this.expose = spec.expose;
  }
}

type ErrorClass = abstract new (...args: never[]) => CertvaultError;

/** A class for `code` over `base` (CertvaultError by default): `export class NotFoundError extends coded("not_found") {}`. */
export function coded<B extends ErrorClass = typeof CertvaultError>(code: ErrorCode, base?: B): B {
  const Base = (base ?? CertvaultError) as unknown as typeof CertvaultError;
  const Coded = class extends Base {};
  Object.defineProperty(Coded, "code", { value: code });
  return Coded as unknown as B;
}

/** Bad command-line usage or configuration (exit 2). */
export class UsageError extends coded("usage_error") {}
/** Input that cannot be parsed or is structurally invalid (400); InvalidIdError and InvalidQueryError are kinds of it. */
export class InvalidInputError extends coded("invalid_input") {}
export class InvalidIdError extends coded("invalid_id", InvalidInputError) {}
export class InvalidQueryError extends coded("invalid_query", InvalidInputError) {}
export class NotFoundError extends coded("not_found") {}
/** No such endpoint: a NotFoundError (same code, same answer), kept for its message. */
export class RouteNotFoundError extends NotFoundError {
  constructor(message = "no such endpoint") {
    super(message);
  }
}
/** If-Match named a version the record no longer has: someone else wrote it first. */
export class PreconditionFailedError extends coded("precondition_failed") {}
/** A grant without the owner's signed statement for exactly this record and grantee. */
export class InvalidGrantError extends coded("invalid_grant") {}
export class ConflictError extends coded("conflict") {}
export class PayloadTooLargeError extends coded("payload_too_large") {}
/** A wrong passphrase, or an encrypted key file that cannot be decrypted. */
export class BadPassphraseError extends coded("bad_passphrase") {}
/** A passphrase is needed but none can be obtained (non-interactive, no file, no env): a usage error. */
export class PassphraseRequiredError extends coded("passphrase_required") {}
export class FileExistsError extends coded("file_exists") {
  constructor(path: string) {
    super(`refusing to overwrite ${path}`);
  }
}

// ---- CA --------------------------------------------------------------------------------------------------------

/** A CSR or certificate request the CA refuses (bad signature, weak key, unknown curve, malformed). */
export class CsrRejectedError extends coded("csr_rejected") {}
export class CaExistsError extends coded("ca_exists") {}
export class CaMissingError extends coded("ca_missing") {}
export class CertificateNotFoundError extends coded("certificate_not_found") {}
export class AlreadyRevokedError extends coded("already_revoked") {}
/** The CA's keys are in a PKCS#11 token and no PIN can be obtained (no file, no env, not interactive): a usage error. */
export class Pkcs11PinRequiredError extends coded("pkcs11_pin_required") {}
/** The token, or a key in it, cannot be found or used (wrong module, label, PIN, or a key that does not match its certificate). */
export class Pkcs11TokenError extends coded("pkcs11_token_error") {}

// ---- authentication (server) -----------------------------------------------------------------------------------

export class ClientCertificateRequiredError extends coded("client_certificate_required") {}
/** A certificate that chains to us but may not be used here (EKU, CA:TRUE, validity). */
export class CertificateNotAllowedError extends coded("certificate_not_allowed") {}
/** A certificate whose identity (CN) is outside the safe set of names (issued before the rule): refused at login. */
export class IdentityNotAllowedError extends coded("identity_not_allowed") {}
export class CertificateRevokedError extends coded("certificate_revoked") {}
/** An enrollment token that is unknown, altered, used, expired or revoked: one answer for all, nothing issued. */
export class InvalidTokenError extends coded("invalid_token") {}
/** The enrollment server's root is not the one whose fingerprint the admin gave: nothing was sent to it (SDK side). */
export class RootPinMismatchError extends coded("root_pin_mismatch") {}
export class ServiceUnavailableError extends coded("service_unavailable") {}
/** The database cannot be reached or written for now (stopped, restarting, read-only, I/O error): retry later. */
export class DatabaseUnavailableError extends coded("database_unavailable") {
  readonly retryAfterSeconds = 2;
}
/** The database's disk or filesystem is full: nothing was stored; retry once an operator has made room. */
export class StorageFullError extends coded("storage_full") {
  readonly retryAfterSeconds = 30;
}
/** The server has not yet loaded the registry, the revoked set and the CRL once: it admits nobody until it has. */
export class NotReadyError extends coded("not_ready") {}

// ---- Audit and abuse controls ------------------------------------------------------------------------------------

/** The audit entry could not be written: the request is refused rather than served unrecorded. */
export class AuditUnavailableError extends coded("audit_unavailable") {}
export class RateLimitedError extends coded("rate_limited") {
  constructor(readonly retryAfterSeconds: number) {
    super(`too many requests; retry after ${retryAfterSeconds} s`);
  }
}
/** Renewals (POST /v1/certificates) of one identity over its budget (--renewal-limit); Retry-After says when one frees. */
export class RenewalLimitedError extends coded("renewal_limited", RateLimitedError) {
  constructor(retryAfterSeconds: number, limit: string) {
    super(retryAfterSeconds);
    this.message = `this identity has used its certificate requests (${limit}); retry after ${retryAfterSeconds} s, or ask an administrator`;
  }
}
/** Self-revocations (DELETE /v1/certificates/:serial) of one identity over its budget (--self-revocation-limit). */
export class SelfRevocationLimitedError extends coded("self_revocation_limited", RateLimitedError) {
  constructor(retryAfterSeconds: number, limit: string) {
    super(retryAfterSeconds);
    this.message = `this identity has used its self-revocations (${limit}); retry after ${retryAfterSeconds} s, or ask an administrator to revoke (certvault ca revoke)`;
  }
}
/** One identity has --max-concurrent-requests requests in flight on this node already; Retry-After: 1. */
export class ConcurrencyLimitedError extends coded("concurrency_limited", RateLimitedError) {
  constructor(limit: number) {
    super(1);
    this.message = `this identity already has ${limit} requests in flight; retry after 1 s`;
  }
}
export class IdentityQuarantinedError extends coded("identity_quarantined") {}
export class AdminRequiredError extends coded("admin_required") {}
/** An operator console action (a POST) without this session's anti-CSRF token, or not from the console's origin. */
export class CsrfRejectedError extends coded("csrf_rejected") {}
export class AuditVerificationError extends coded("audit_tampered") {
  constructor(
    readonly seq: number,
    message: string,
  ) {
    super(message);
  }
}
/** The stored audit chain does not continue what the audit key signed last: checkpoints stop until someone looks. */
export class AuditChainBrokenError extends coded("audit_chain_broken") {
  constructor(problem: string) {
    super(`refusing to sign an audit checkpoint: ${problem} (run "certvault audit verify")`);
  }
}
/** `audit verify` found no signed checkpoint from outside the database to start from (and was not told --hashes-only). */
export class AuditAnchorMissingError extends coded("audit_anchor_missing") {}
/** A checkpoint file (HOME/audit/checkpoints.log, anchor.json, an export) that is malformed or not signed by the audit key. */
export class AuditCheckpointFileError extends coded("audit_checkpoints_invalid") {}

// ---- HTTP API input --------------------------------------------------------------------------------------------

/** Recovery is set up, and a client-sealed upload is not sealed to the recovery certificate too. */
export class RecoveryRecipientMissingError extends coded("recovery_recipient_missing") {}
/** A client-sealed upload that is not one of the caller's envelopes. */
export class NotARecipientError extends coded("not_a_recipient") {}
export class MethodNotAllowedError extends coded("method_not_allowed") {}
/** An `Expect` header other than 100-continue (RFC 9110 10.1.1): nothing else is done with the request. */
export class ExpectationFailedError extends coded("expectation_failed") {}
/** Bytes Node's HTTP parser cannot read (server/tls/client-error.ts answers them without a ServerResponse). */
export class MalformedRequestError extends coded("malformed_request") {}
export class HeadersTooLargeError extends coded("headers_too_large") {}
export class RequestTimeoutError extends coded("request_timeout") {}

// ---- Backup, restore and recovery --------------------------------------------------------------------------------

/** A backup file that is not one, is damaged or altered, or does not match its manifest: nothing is restored. */
export class BackupInvalidError extends coded("backup_invalid") {}
/** `certvault restore` onto a database that already exists: refused before anything is written. */
export class RestoreTargetExistsError extends coded("restore_target_exists") {}
/** Restoring needs the audit public key (HOME/audit/audit.pub) to check the backup's signed checkpoints. */
export class AuditKeyMissingError extends coded("audit_key_missing") {}
/** `certvault backup`/`restore` of a database they do not handle (PostgreSQL: pg_dump/pg_restore, docs/deploy.md). */
export class BackupUnsupportedError extends coded("backup_unsupported") {}
/** A certificate that may not be used for recovery; the message says why (never key material). Exit 1: a refusal. */
export class CertificateRefusedError extends coded("certificate_refused") {}
/** A custodian set that would not need K people; exit 1, naming the certificate. */
export class CustodianRefusedError extends coded("custodian_refused") {}
export class RecoveryFailedError extends coded("recovery_failed") {}

/** Wraps anything that is not a CertvaultError so that nothing else ever reaches a user; the message is generic. */
export function asCertvaultError(err: unknown): CertvaultError {
  if (err instanceof CertvaultError) return err;
  // The one mapping of driver errors (errors/storage-faults.ts): a database that is down or full is a 503, not a bug.
  const fault = storageFault(err);
  if (fault === "full") return new StorageFullError(undefined, { cause: err });
  if (fault === "unavailable") return new DatabaseUnavailableError(undefined, { cause: err });
  return new CertvaultError("internal error", { cause: err });
}
