/**
 * Who an envelope is for. Matching compares DER octets (issuer Name, serial INTEGER content, SKI), never strings,
 * and only across compatible kinds: a KeyTransRecipientInfo names an RSA certificate, a KeyAgreeRecipientInfo an EC
 * one. A certificate without a SubjectKeyIdentifier extension never matches an SKI-identified recipient.
 */
import { type CertificateInput, type RecipientCert, loadCertificate } from "./certs.js";
import { equalBytes, toHex } from "./der.js";
import { EnvelopeUsageError } from "./errors.js";
import type { ParsedEnvelope } from "./frame.js";
import { formatName, serialHex } from "./names.js";
import type { KariRecipient, RecipientInfo, Rid } from "./recipient-infos.js";

export type RecipientKind = "kari" | "ktri";

/**
 * One recipient of an envelope. Either `issuer` and `serialNumber` are present (issuerAndSerialNumber) or
 * `subjectKeyIdentifier` is (the SKI form).
 */
export interface RecipientId {
  readonly kind: RecipientKind;
  /** DER of the issuer Name and its RFC 4514 string (for display; matching uses `der`). */
  readonly issuer?: { readonly der: Uint8Array; readonly name: string };
  /** Lower-case hex of the serial's octets without leading zero octets (see names.ts serialHex). */
  readonly serialNumber?: string;
  /** Lower-case hex of the SubjectKeyIdentifier octets. */
  readonly subjectKeyIdentifier?: string;
}

/** Where a recipient sits in a parsed envelope: a KTRI, or one recipientEncryptedKey of a KARI. */
export interface Slot {
  readonly ri: RecipientInfo;
  readonly key?: KariRecipient;
}

const kindFits = (kind: RecipientKind, cert: RecipientCert) => (kind === "kari") === (cert.kind === "ec");

function ridMatches(rid: Rid, cert: RecipientCert): boolean {
  if (rid.issuer && rid.serial) return equalBytes(rid.serial, cert.serial) && equalBytes(rid.issuer, cert.issuer);
  const ski = cert.subjectKeyIdentifier;
  return !!rid.subjectKeyIdentifier && !!ski && equalBytes(rid.subjectKeyIdentifier, ski);
}

export function* slots(parsed: ParsedEnvelope): Generator<Slot> {
  for (const ri of parsed.recipientInfos) {
    if (ri.kind === "ktri") yield { ri };
    else for (const key of ri.recipients) yield { ri, key };
  }
}

const ridOf = (slot: Slot): Rid => (slot.key ?? (slot.ri as { rid: Rid })).rid;

/** The first slot naming `cert`, if any. */
export function findSlot(parsed: ParsedEnvelope, cert: RecipientCert): Slot | undefined {
  for (const slot of slots(parsed)) {
    if (kindFits(slot.ri.kind, cert) && ridMatches(ridOf(slot), cert)) return slot;
  }
  return undefined;
}

export function idOf(slot: Slot): RecipientId {
  const rid = ridOf(slot);
  const kind = slot.ri.kind;
  if (rid.issuer && rid.serial) {
    return {
      kind,
      issuer: { der: new Uint8Array(rid.issuer), name: formatName(rid.issuer) },
      serialNumber: serialHex(rid.serial),
    };
  }
  return { kind, subjectKeyIdentifier: toHex(rid.subjectKeyIdentifier as Uint8Array) };
}

/** Lower-case, whole octets, no leading zero octets: the form recipientsOf() returns. */
export function normaliseSerial(hex: string): string {
  let h = hex.toLowerCase().replace(/[:\s]/g, "");
  if (!/^[0-9a-f]+$/.test(h)) throw new EnvelopeUsageError("serialNumber must be hexadecimal");
  if (h.length % 2 === 1) h = `0${h}`;
  while (h.length > 2 && h.startsWith("00")) h = h.slice(2);
  return h;
}

/** Does a RecipientId (possibly made by the caller) name this slot? */
export function idMatchesSlot(id: RecipientId, slot: Slot): boolean {
  if (id.kind !== slot.ri.kind) return false;
  const rid = ridOf(slot);
  if (id.subjectKeyIdentifier !== undefined) {
    return !!rid.subjectKeyIdentifier && toHex(rid.subjectKeyIdentifier) === id.subjectKeyIdentifier.toLowerCase();
  }
  if (!id.issuer || id.serialNumber === undefined || !rid.issuer || !rid.serial) return false;
  return equalBytes(id.issuer.der, rid.issuer) && normaliseSerial(id.serialNumber) === serialHex(rid.serial);
}

/** Does a RecipientId name this certificate? */
export function idMatchesCert(id: RecipientId, cert: RecipientCert): boolean {
  if (!kindFits(id.kind, cert)) return false;
  if (id.subjectKeyIdentifier !== undefined) {
    return !!cert.subjectKeyIdentifier && toHex(cert.subjectKeyIdentifier) === id.subjectKeyIdentifier.toLowerCase();
  }
  if (!id.issuer || id.serialNumber === undefined) return false;
  return equalBytes(id.issuer.der, cert.issuer) && normaliseSerial(id.serialNumber) === serialHex(cert.serial);
}

export type RecipientSelector = CertificateInput | RecipientId;

/** A selector as a slot predicate: certificates match like open() does, ids like idMatchesSlot(). */
export function slotPredicate(selector: RecipientSelector): (slot: Slot) => boolean {
  if (typeof selector === "string" || selector instanceof Uint8Array) {
    const cert = loadCertificate(selector);
    return (slot) => kindFits(slot.ri.kind, cert) && ridMatches(ridOf(slot), cert);
  }
  if (typeof selector !== "object" || selector === null || (selector.kind !== "kari" && selector.kind !== "ktri")) {
    throw new EnvelopeUsageError("a recipient must be a certificate or a RecipientId");
  }
  return (slot) => idMatchesSlot(selector, slot);
}
