/**
 * Changing who can open an envelope without re-encrypting it: the content key is wrapped for new recipients, or
 * RecipientInfos are dropped; contentEncryptionAlgorithm (with its nonce), encryptedContent and mac are copied byte
 * for byte, and RecipientInfos that do not change are copied verbatim.
 *
 * Removing a recipient only removes its wrapped key from this copy of the envelope: whoever opened it before may
 * have kept the content key. Revocation needs re-encryption (open + seal).
 */
import type { KeyObject } from "node:crypto";
import { type CertificateInput, loadCertificate, requireKeyUsage } from "./certs.js";
import { DecryptionFailedError, LastRecipientError, NoMatchingRecipientError } from "./errors.js";
import { type ParsedEnvelope, layoutEnvelope, parseEnvelope } from "./frame.js";
import { reencodeKari } from "./kari.js";
import { decryptWith, recoverContentKey, requirePrivateKey } from "./open.js";
import { type EnvelopeOptions, type Limits, requireBytes, resolveLimits } from "./options.js";
import { recipientCount } from "./recipient-infos.js";
import { type RecipientSelector, findSlot, slotPredicate, slots } from "./recipients.js";
import { checkRecipientCount, loadRecipients, wrapForRecipients } from "./seal.js";

function rebuild(parsed: ParsedEnvelope, infos: readonly Uint8Array[], limits: Limits): Uint8Array {
  const content = parsed.encryptedContent;
  const layout = layoutEnvelope(infos, parsed.contentAlgorithm, content.length, limits, parsed.contentType);
  layout.out.set(content, layout.contentOffset);
  layout.out.set(parsed.mac, layout.macOffset);
  return layout.out;
}

/**
 * Adds recipients, proving first with (openingKey, openingCert) that the content key is right: the content is
 * decrypted and verified (then wiped) before the key is wrapped for anyone else. Certificates that already are
 * recipients are skipped. `verifyContent: false` skips that proof, so that the cost no longer grows with the
 * content (key rotation over many large records): the key unwrap is still authenticated (AES key wrap), and a
 * content key that does not match the content only makes the envelope unopenable for everyone, never readable.
 */
export function addRecipients(
  envelope: Uint8Array,
  openingKey: KeyObject,
  openingCert: CertificateInput,
  newRecipients: readonly CertificateInput[],
  opts?: EnvelopeOptions & { verifyContent?: boolean },
): Uint8Array {
  requireBytes(envelope, "envelope");
  const key = requirePrivateKey(openingKey);
  const limits = resolveLimits(opts);
  const parsed = parseEnvelope(envelope, limits);
  const opener = loadCertificate(openingCert);
  requireKeyUsage(opener);
  const fresh = loadRecipients(newRecipients).filter((cert) => !findSlot(parsed, cert));
  const existing = parsed.recipientInfos.reduce((n, ri) => n + recipientCount(ri), 0);
  checkRecipientCount(existing + fresh.length, limits);
  const recovered = recoverContentKey(parsed, opener, key);
  const cek = Buffer.from(recovered.cek); // decryptWith wipes the original
  try {
    if (opts?.verifyContent !== false) decryptWith(parsed, recovered).fill(0);
    // Without the content check, a failed unwrap (answered with a decoy key) must still fail here: wrapping the decoy
    // for the new recipients would lose the record for them.
    else if (recovered.decoy) throw new DecryptionFailedError();
    const infos = [...parsed.recipientInfos.map((ri) => ri.raw), ...wrapForRecipients(fresh, cek)];
    return rebuild(parsed, infos, limits);
  } finally {
    cek.fill(0);
  }
}

/**
 * Removes the recipients named by certificates or RecipientIds. Every selector must name at least one recipient
 * (NoMatchingRecipientError otherwise), and at least one recipient must remain (LastRecipientError).
 */
export function removeRecipients(
  envelope: Uint8Array,
  recipients: readonly RecipientSelector[],
  opts?: EnvelopeOptions,
): Uint8Array {
  requireBytes(envelope, "envelope");
  const limits = resolveLimits(opts);
  const parsed = parseEnvelope(envelope, limits);
  const predicates = recipients.map(slotPredicate);
  const all = [...slots(parsed)];
  for (const matches of predicates) {
    if (!all.some(matches)) throw new NoMatchingRecipientError("a recipient to remove is not in the envelope");
  }
  const removed = (slot: (typeof all)[number]) => predicates.some((p) => p(slot));
  const infos: Uint8Array[] = [];
  for (const ri of parsed.recipientInfos) {
    if (ri.kind === "ktri") {
      if (!removed({ ri })) infos.push(ri.raw);
      continue;
    }
    const keep = ri.recipients.filter((key) => !removed({ ri, key }));
    if (keep.length === ri.recipients.length) infos.push(ri.raw);
    else if (keep.length > 0) infos.push(reencodeKari(ri, keep));
  }
  if (infos.length === 0) throw new LastRecipientError("refusing to remove the last recipient");
  return rebuild(parsed, infos, limits);
}
