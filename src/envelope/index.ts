/**
 * certvault/envelope: records as CMS AuthEnvelopedData (RFC 5083) with AES-256-GCM, sealed to X.509 certificates
 * (EC P-256/P-384/P-521 through ECDH key agreement, RSA through RSAES-OAEP), readable by `openssl cms -decrypt`.
 * Pure and synchronous: bytes and keys in, bytes out. The format is specified in docs/envelope.md.
 */
import { type CertificateInput, loadCertificate } from "./certs.js";
import { parseEnvelope } from "./frame.js";
import { type EnvelopeOptions, resolveLimits } from "./options.js";
import { type RecipientId, findSlot, idMatchesCert } from "./recipients.js";
import { EnvelopeUsageError } from "./errors.js";

export type { CertificateInput } from "./certs.js";
export type { EnvelopeOptions } from "./options.js";
export type { RecipientId, RecipientKind, RecipientSelector } from "./recipients.js";
export type { EnvelopeInfo, AlgorithmName } from "./inspect.js";
export type { CurveName, ContentKind } from "./algorithms.js";
export { DEFAULT_MAX_ENVELOPE_BYTES, DEFAULT_MAX_RECIPIENTS, DEFAULT_MAX_RECIPIENT_INFOS_BYTES } from "./options.js";
export { seal, sealSignedRecord } from "./seal.js";
export { open, openContent } from "./open.js";
export { signRecord } from "./signed.js";
export type { RecordBinding, RecordSigner, SignaturePurpose } from "./signed.js";
export { verifyRecordSignature } from "./signed-verify.js";
export type { VerifiedRecordSignature } from "./signed-verify.js";
export { signGrant, readGrant, GRANT_TYPE, MAX_GRANT_BYTES } from "./grant.js";
export type { Grant } from "./grant.js";
export { addRecipients, removeRecipients } from "./rewrap.js";
export { inspect, recipientsOf } from "./inspect.js";
export * from "./errors.js";

/**
 * Whether `certificate` is a recipient of an envelope (or of a list from recipientsOf()). The server uses it to
 * check that a client-sealed upload can be opened by one of the caller's certificates. It parses and checks the
 * envelope (typed errors for malformed ones) but proves nothing about the wrapped key: only open() can.
 */
export function isRecipient(
  envelopeOrIds: Uint8Array | readonly RecipientId[],
  certificate: CertificateInput,
  opts?: EnvelopeOptions,
): boolean {
  const cert = loadCertificate(certificate);
  if (envelopeOrIds instanceof Uint8Array)
    return findSlot(parseEnvelope(envelopeOrIds, resolveLimits(opts)), cert) !== undefined;
  if (!Array.isArray(envelopeOrIds)) throw new EnvelopeUsageError("expected an envelope or a list of RecipientIds");
  return envelopeOrIds.some((id) => idMatchesCert(id, cert));
}
