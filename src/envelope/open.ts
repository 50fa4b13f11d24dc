/**
 * Opening: the whole envelope is parsed and checked against the allow-list first, then the recipient named by the
 * certificate is located, the content key recovered and the content decrypted and verified. Plaintext is returned
 * only after the GCM tag verifies.
 */
import { type KeyObject, randomBytes } from "node:crypto";
import { CEK_BYTES, type ContentKind } from "./algorithms.js";
import { type CertificateInput, type RecipientCert, loadCertificate, requireKeyUsage } from "./certs.js";
import { decryptContent } from "./content.js";
import { DecryptionFailedError, EnvelopeUsageError, NoMatchingRecipientError } from "./errors.js";
import { type ParsedEnvelope, parseEnvelope } from "./frame.js";
import { unwrapKari } from "./kari.js";
import { unwrapKtri } from "./ktri.js";
import { type EnvelopeOptions, requireBytes, resolveLimits } from "./options.js";
import type { Kari, Ktri } from "./recipient-infos.js";
import { findSlot } from "./recipients.js";

export function requirePrivateKey(key: unknown): KeyObject {
  if (typeof key !== "object" || key === null || (key as KeyObject).type !== "private") {
    throw new EnvelopeUsageError("a private KeyObject (node:crypto) is required");
  }
  return key as KeyObject;
}

/**
 * The content key for (cert, key), or a typed error; the caller must wipe it. When unwrapping fails, a random decoy
 * key is returned (with `decoy` set) so that the failure surfaces at tag verification, after the same work as a
 * tampered ciphertext (as panva/jose does): no timing difference tells which step failed.
 */
export function recoverContentKey(
  parsed: ParsedEnvelope,
  cert: RecipientCert,
  privateKey: KeyObject,
): { cek: Buffer; decoy: boolean } {
  const slot = findSlot(parsed, cert);
  if (!slot) throw new NoMatchingRecipientError("this certificate is not a recipient of the envelope");
  try {
    const cek = slot.key
      ? unwrapKari(slot.ri as Kari, slot.key, cert, privateKey)
      : unwrapKtri(slot.ri as Ktri, cert, privateKey);
    return { cek, decoy: false };
  } catch (err) {
    if (!(err instanceof DecryptionFailedError)) throw err;
    return { cek: randomBytes(CEK_BYTES), decoy: true };
  }
}

/** Decrypts and verifies the content with a recovered key, wiping the key (and the output of a decoy) afterwards. */
export function decryptWith(parsed: ParsedEnvelope, key: { cek: Buffer; decoy: boolean }): Uint8Array {
  try {
    const out = decryptContent(key.cek, parsed.nonce, parsed.encryptedContent, parsed.mac);
    if (!key.decoy) return out;
    out.fill(0); // a 2^-128 accident; still a failure
    throw new DecryptionFailedError();
  } finally {
    key.cek.fill(0);
  }
}

export function open(
  envelope: Uint8Array,
  privateKey: KeyObject,
  certificate: CertificateInput,
  opts?: EnvelopeOptions,
): Uint8Array {
  return openContent(envelope, privateKey, certificate, opts).content;
}

/** As open(), and says what the content is: the record ("data") or a SignedData carrying it ("signed-data"). */
export function openContent(
  envelope: Uint8Array,
  privateKey: KeyObject,
  certificate: CertificateInput,
  opts?: EnvelopeOptions,
): { contentType: ContentKind; content: Uint8Array } {
  requireBytes(envelope, "envelope");
  const key = requirePrivateKey(privateKey);
  const parsed = parseEnvelope(envelope, resolveLimits(opts));
  const cert = loadCertificate(certificate);
  requireKeyUsage(cert);
  return { contentType: parsed.contentType, content: decryptWith(parsed, recoverContentKey(parsed, cert, key)) };
}
