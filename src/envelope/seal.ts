/**
 * Sealing: a fresh 256-bit content key and 96-bit nonce per message, the content encrypted once with AES-256-GCM,
 * the key wrapped for each recipient: one KARI per EC curve (one ephemeral key each), one KTRI per RSA recipient.
 */
import { randomBytes } from "node:crypto";
import { type ContentKind, type Curve, CEK_BYTES, GCM_NONCE_BYTES } from "./algorithms.js";
import { type CertificateInput, type RecipientCert, loadCertificate, requireKeyUsage } from "./certs.js";
import { encryptContent } from "./content.js";
import { EnvelopeTooLargeError, EnvelopeUsageError, TooManyRecipientsError } from "./errors.js";
import { gcmAlgorithm, layoutEnvelope } from "./frame.js";
import { buildKari } from "./kari.js";
import { buildKtri } from "./ktri.js";
import { type EnvelopeOptions, type Limits, requireBytes, resolveLimits } from "./options.js";
import { type RecordBinding, type RecordSigner, type SignaturePurpose, signedRecordParts } from "./signed.js";

/** Loads, checks (key type, KeyUsage) and de-duplicates (by fingerprint) recipient certificates. */
export function loadRecipients(inputs: readonly CertificateInput[]): RecipientCert[] {
  if (!Array.isArray(inputs)) throw new EnvelopeUsageError("recipients must be an array of certificates");
  const byFingerprint = new Map<string, RecipientCert>();
  for (const input of inputs) {
    const cert = loadCertificate(input);
    requireKeyUsage(cert);
    byFingerprint.set(cert.fingerprint, cert);
  }
  return [...byFingerprint.values()];
}

/** The RecipientInfo encodings that give each of `certs` the content key. */
export function wrapForRecipients(certs: readonly RecipientCert[], cek: Uint8Array): Uint8Array[] {
  const byCurve = new Map<Curve, RecipientCert[]>();
  const out: Uint8Array[] = [];
  for (const cert of certs) {
    if (cert.kind === "rsa") out.push(buildKtri(cert, cek));
    else {
      const curve = cert.curve as Curve;
      byCurve.set(curve, [...(byCurve.get(curve) ?? []), cert]);
    }
  }
  for (const [curve, group] of byCurve) out.push(buildKari(curve, group, cek));
  return out;
}

export function checkRecipientCount(count: number, limits: Limits): void {
  if (count > limits.maxRecipients) throw new TooManyRecipientsError(`more than ${limits.maxRecipients} recipients`);
}

/**
 * Seals `plaintext` to every certificate in `recipients` (duplicates are sealed to once). `contentType`
 * "signed-data" marks the plaintext as a CMS SignedData (a signed record, see signed.ts). Synchronous: node:crypto's
 * synchronous calls measured faster than WebCrypto's promises for this work.
 */
export function seal(
  plaintext: Uint8Array,
  recipients: readonly CertificateInput[],
  opts?: EnvelopeOptions & { contentType?: ContentKind },
): Uint8Array {
  requireBytes(plaintext, "plaintext");
  return sealParts([plaintext], recipients, opts);
}

/**
 * seal(signRecord(content, signer, binding, signOpts), recipients, {...opts, contentType: "signed-data"}), the same
 * bytes, without the SignedData laid out whole in between: its parts (content itself among them) go through the
 * cipher straight into the envelope. What the server does with a plaintext upload: a 10 MiB record no longer makes a
 * 10 MiB SignedData copy on the way (measured, issue 17, bench/memory.ts: one 10 MiB buffer less per upload in flight
 * and per upload's garbage, and one 10 MiB copy less of CPU).
 */
export function sealSignedRecord(
  content: Uint8Array,
  signer: RecordSigner,
  binding: RecordBinding,
  recipients: readonly CertificateInput[],
  opts?: EnvelopeOptions & { now?: Date; purpose?: SignaturePurpose },
): Uint8Array {
  const parts = signedRecordParts(content, signer, binding, opts);
  return sealParts(parts, recipients, { ...opts, contentType: "signed-data" });
}

function sealParts(
  parts: readonly Uint8Array[],
  recipients: readonly CertificateInput[],
  opts?: EnvelopeOptions & { contentType?: ContentKind },
): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const limits = resolveLimits(opts);
  if (length > limits.maxEnvelopeBytes) {
    throw new EnvelopeTooLargeError(`plaintext of ${length} bytes exceeds the limit of ${limits.maxEnvelopeBytes}`);
  }
  const certs = loadRecipients(recipients);
  if (certs.length === 0) throw new EnvelopeUsageError("at least one recipient is required");
  checkRecipientCount(certs.length, limits);
  const cek = randomBytes(CEK_BYTES);
  try {
    const nonce = randomBytes(GCM_NONCE_BYTES);
    const infos = wrapForRecipients(certs, cek);
    const layout = layoutEnvelope(infos, gcmAlgorithm(nonce), length, limits, opts?.contentType ?? "data");
    const tag = encryptContent(cek, nonce, parts, layout.out, layout.contentOffset);
    layout.out.set(tag, layout.macOffset);
    return layout.out;
  } finally {
    cek.fill(0);
  }
}
