/** SDK-side errors: server answers keep the server's code; trust failures have their own. */
import { CertvaultError } from "../errors/index.js";

/** An error answer from the server, with the server's stable code and HTTP status. */
export class ServerError extends CertvaultError {
  static override readonly code: string = "server_error";
  override readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message, { status });
    this.code = code;
  }
}

/** A certificate the SDK refuses to seal to (not from the pinned CA, wrong usage, expired, another identity). */
export class UntrustedCertificateError extends CertvaultError {
  static override readonly code: string = "untrusted_certificate";
  constructor(message: string) {
    super(message, { status: 502 });
  }
}

export class ConnectionError extends CertvaultError {
  static override readonly code: string = "connection_failed";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { status: 502, ...opts });
  }
}

/** The server says this client is someone else than its own certificate says (GET /v1/me). */
export class IdentityMismatchError extends CertvaultError {
  static override readonly code: string = "identity_mismatch";
  constructor(message: string) {
    super(message, { status: 502 });
  }
}

/**
 * A record the SDK will not return: not signed, signed by someone who is not its owner (or by the server when that is
 * refused), bound to another id or owner, or signed with a certificate that was revoked or expired at the time.
 */
export class UntrustedRecordError extends CertvaultError {
  static override readonly code: string = "untrusted_record";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { status: 502, ...opts });
  }
}

/** A record with no signature (stored before signed records, or forged with `openssl cms -encrypt`). */
export class UnsignedRecordError extends UntrustedRecordError {
  static override readonly code: string = "unsigned_record";
}

/** A record the server sealed (from a plaintext upload), refused because the client asked for owner-signed only. */
export class ServerSealedRecordError extends UntrustedRecordError {
  static override readonly code: string = "server_sealed_record";
}

/** A grant the owner did not sign (an inserted row, a statement for another record or grantee). */
export class UntrustedGrantError extends CertvaultError {
  static override readonly code: string = "untrusted_grant";
  constructor(message: string) {
    super(message, { status: 502 });
  }
}

/** The CRL the server served does not verify against the pinned CA, is stale, or is older than one seen before. */
export class UntrustedCrlError extends CertvaultError {
  static override readonly code: string = "untrusted_crl";
  constructor(message: string) {
    super(message, { status: 502 });
  }
}

/** The recovery certificate the server names is not the one pinned in the profile (or none is pinned yet). */
export class RecoveryPinError extends CertvaultError {
  static override readonly code: string = "recovery_not_pinned";
  constructor(message: string) {
    super(message, { status: 502 });
  }
}
