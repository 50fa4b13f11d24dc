/**
 * Errors of the record envelope. Codes are part of the public interface (errors/registry.ts). Every cryptographic
 * failure while opening (wrong key, bad tag, failed unwrap, failed OAEP) is one opaque DecryptionFailedError so that
 * callers, and through them attackers, learn nothing about which step failed; structural defects keep their own codes
 * because they are visible in the public bytes anyway.
 */
import { coded } from "../errors/index.js";

/** Root of the envelope errors: input is malformed, tampered or refused (400 unless the registry says otherwise). */
export class EnvelopeError extends coded("envelope_error") {}
/** Not DER, truncated, trailing bytes, wrong version or content type, missing or misplaced field. */
export class MalformedEnvelopeError extends coded("malformed_envelope", EnvelopeError) {}
/** An algorithm OID (or its parameters) outside the allow-list in algorithms.ts. */
export class UnsupportedAlgorithmError extends coded("unsupported_algorithm", EnvelopeError) {}
/** Well-formed CMS that certvault deliberately does not process (authAttrs, originatorInfo, kekri, ...). */
export class UnsupportedFeatureError extends coded("unsupported_feature", EnvelopeError) {}
/** Any cryptographic failure while opening. The message never says which step failed (the registry's one text). */
export class DecryptionFailedError extends coded("decryption_failed", EnvelopeError) {
  constructor() {
    super();
  }
}
/** The certificate given to open() is not among the envelope's recipients. */
export class NoMatchingRecipientError extends coded("no_matching_recipient", EnvelopeError) {}
/** The ephemeral EC key of a KeyAgreeRecipientInfo is not a valid uncompressed point on the recipient's named curve. */
export class InvalidOriginatorKeyError extends coded("invalid_originator_key", EnvelopeError) {}
/** A certificate that cannot be parsed (bad PEM, bad DER, not exactly one certificate). */
export class InvalidCertificateError extends coded("invalid_certificate", EnvelopeError) {}
/** A certificate key certvault does not seal to: other curves, explicit EC parameters, RSA below 2048 bits, ... */
export class UnsupportedKeyError extends coded("unsupported_key", EnvelopeError) {}
/** The certificate's KeyUsage extension does not allow keyAgreement (EC) or keyEncipherment (RSA). */
export class KeyUsageError extends coded("key_usage_not_allowed", EnvelopeError) {}
/** The private key given to open() cannot belong to the certificate (other type or curve). */
export class KeyMismatchError extends coded("key_mismatch", EnvelopeError) {}
/** Over maxEnvelopeBytes or maxRecipientInfosBytes (413). */
export class EnvelopeTooLargeError extends coded("envelope_too_large", EnvelopeError) {}
export class TooManyRecipientsError extends coded("too_many_recipients", EnvelopeError) {}
/** removeRecipients() would leave an envelope nobody can open. */
export class LastRecipientError extends coded("last_recipient", EnvelopeError) {}
/** A call the caller got wrong (no recipients, not bytes, a public key where a private key is needed). */
export class EnvelopeUsageError extends coded("invalid_envelope_argument", EnvelopeError) {}
/** A signed record whose signature, digest or signed attributes do not verify. Says nothing of which check failed. */
export class InvalidSignatureError extends coded("invalid_signature", EnvelopeError) {}
