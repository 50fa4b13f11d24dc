/**
 * Errors of the record envelope. Codes are part of the public interface. Every cryptographic failure while opening
 * (wrong key, bad tag, failed unwrap, failed OAEP) is one opaque DecryptionFailedError so that callers, and through
 * them attackers, learn nothing about which step failed; structural defects keep their own codes because they are
 * visible in the public bytes anyway.
 */
import { CertvaultError } from "../errors/index.js";

/** Root of the envelope errors: input is malformed, tampered or refused (400 unless stated). */
export class EnvelopeError extends CertvaultError {
  static override readonly code: string = "envelope_error";
  constructor(message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(message, { status: opts.status ?? 400, cause: opts.cause });
  }
}

/** Not DER, truncated, trailing bytes, wrong version or content type, missing or misplaced field. */
export class MalformedEnvelopeError extends EnvelopeError {
  static override readonly code: string = "malformed_envelope";
}

/** An algorithm OID (or its parameters) outside the allow-list in algorithms.ts. */
export class UnsupportedAlgorithmError extends EnvelopeError {
  static override readonly code: string = "unsupported_algorithm";
}

/** Well-formed CMS that certvault deliberately does not process (authAttrs, originatorInfo, kekri, ...). */
export class UnsupportedFeatureError extends EnvelopeError {
  static override readonly code: string = "unsupported_feature";
}

/** Any cryptographic failure while opening. The message never says which step failed. */
export class DecryptionFailedError extends EnvelopeError {
  static override readonly code: string = "decryption_failed";
  constructor() {
    super("the envelope cannot be decrypted with this key");
  }
}

/** The certificate given to open() is not among the envelope's recipients. */
export class NoMatchingRecipientError extends EnvelopeError {
  static override readonly code: string = "no_matching_recipient";
}

/** The ephemeral EC key of a KeyAgreeRecipientInfo is not a valid uncompressed point on the recipient's named curve. */
export class InvalidOriginatorKeyError extends EnvelopeError {
  static override readonly code: string = "invalid_originator_key";
}

/** A certificate that cannot be parsed (bad PEM, bad DER, not exactly one certificate). */
export class InvalidCertificateError extends EnvelopeError {
  static override readonly code: string = "invalid_certificate";
}

/** A certificate key certvault does not seal to: other curves, explicit EC parameters, RSA below 2048 bits, ... */
export class UnsupportedKeyError extends EnvelopeError {
  static override readonly code: string = "unsupported_key";
}

/** The certificate's KeyUsage extension does not allow keyAgreement (EC) or keyEncipherment (RSA). */
export class KeyUsageError extends EnvelopeError {
  static override readonly code: string = "key_usage_not_allowed";
}

/** The private key given to open() cannot belong to the certificate (other type or curve). */
export class KeyMismatchError extends EnvelopeError {
  static override readonly code: string = "key_mismatch";
}

export class EnvelopeTooLargeError extends EnvelopeError {
  static override readonly code: string = "envelope_too_large";
  constructor(message: string) {
    super(message, { status: 413 });
  }
}

export class TooManyRecipientsError extends EnvelopeError {
  static override readonly code: string = "too_many_recipients";
}

/** removeRecipients() would leave an envelope nobody can open. */
export class LastRecipientError extends EnvelopeError {
  static override readonly code: string = "last_recipient";
}

/** A call the caller got wrong (no recipients, not bytes, a public key where a private key is needed). */
export class EnvelopeUsageError extends EnvelopeError {
  static override readonly code: string = "invalid_envelope_argument";
}

/** A signed record whose signature, digest or signed attributes do not verify. Says nothing of which check failed. */
export class InvalidSignatureError extends EnvelopeError {
  static override readonly code: string = "invalid_signature";
  constructor(message = "the record's signature does not verify") {
    super(message);
  }
}
