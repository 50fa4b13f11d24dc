/**
 * Signed records (sign-then-encrypt, docs/envelope.md "Signed records"): the record is carried in a CMS SignedData
 * (RFC 5652 5) whose one SignerInfo signs, in its signed attributes, the content's digest and a certvault binding
 * attribute naming the record's owner and id. The SignedData is then sealed with seal(..., {contentType:
 * "signed-data"}), so re-wrapping (rotation, sharing, recovery) never touches the signature, and
 * `openssl cms -decrypt | openssl cms -verify -purpose any` reads it.
 *
 * One suite per key type (algorithms.ts signatureSuite), nothing negotiated. This module proves only that the
 * certificate in the SignedData signed these bytes for this binding; whether that certificate is one to believe
 * (chain, identity, revocation) is the caller's decision (client-sdk/record-trust.ts).
 */
import { type KeyObject, createHash, createPublicKey, sign } from "node:crypto";
import {
  ATTR_CONTENT_TYPE,
  ATTR_MESSAGE_DIGEST,
  ATTR_GRANT_BINDING,
  ATTR_RECORD_BINDING,
  ATTR_SIGNING_TIME,
  CT_DATA,
  CT_SIGNED_DATA,
  PSS_SALT_BYTES,
  signatureSuite,
} from "./algorithms.js";
import { type CertificateInput, type RecipientCert, loadCertificate } from "./certs.js";
import { TAG, concat, derSetOrder, equalBytes, header, tlv } from "./der.js";
import { EnvelopeUsageError, KeyMismatchError } from "./errors.js";
import { requirePrivateKey } from "./open.js";
import { requireBytes } from "./options.js";

/** What a record's signature binds it to: whose record it is and under which id it is stored. */
export interface RecordBinding {
  readonly owner: string;
  readonly id: string;
}

/**
 * What a signature is for: a record's content, or a grant statement (grant.ts). Each has its own binding attribute
 * OID, and each verifier demands its own: a grant statement sealed as a record (or a record's content presented as a
 * grant) is refused, whatever its bytes say.
 */
export type SignaturePurpose = "record" | "grant";
export const BINDING_ATTRIBUTES = { record: ATTR_RECORD_BINDING, grant: ATTR_GRANT_BINDING } as const;

export interface RecordSigner {
  readonly key: KeyObject;
  readonly certificate: CertificateInput;
  /** Issuing CA certificates to carry in the SignedData (the intermediate), so `-CAfile root.crt` suffices. */
  readonly chain?: readonly CertificateInput[];
}

const VERSION_1 = Uint8Array.of(TAG.INTEGER, 1, 1);
const BINDING_VERSION = Uint8Array.of(TAG.INTEGER, 1, 1);
/** Identity names are at most 64 characters; ids 32 hex digits. Generous, but bounded: the binding is parsed. */
export const MAX_BINDING_FIELD_BYTES = 1024;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const attribute = (type: Uint8Array, value: Uint8Array): Uint8Array => tlv(TAG.SEQUENCE, type, tlv(TAG.SET, value));

/** SEQUENCE { version 1, owner UTF8String, recordId UTF8String } */
export function encodeBinding(b: RecordBinding): Uint8Array {
  if (typeof b?.owner !== "string" || typeof b.id !== "string" || b.owner === "" || b.id === "") {
    throw new EnvelopeUsageError("a record binding needs a non-empty owner and id");
  }
  const owner = utf8(b.owner);
  const id = utf8(b.id);
  if (owner.length > MAX_BINDING_FIELD_BYTES || id.length > MAX_BINDING_FIELD_BYTES)
    throw new EnvelopeUsageError("binding fields are too long");
  return tlv(TAG.SEQUENCE, BINDING_VERSION, tlv(0x0c, owner), tlv(0x0c, id));
}

/** UTCTime (RFC 5652 11.3: dates before 2050), to the second. */
function utcTime(d: Date): Uint8Array {
  const iso = d.toISOString(); // 2026-12-02T04:07:19.971Z
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return tlv(0x17, utf8(text));
}

const keyChecked = new WeakMap<KeyObject, string>();

/** The private key must be the certificate's (compared by public key; remembered per KeyObject: ~20 us once). */
function requireKeyOf(key: KeyObject, cert: RecipientCert): void {
  if (keyChecked.get(key) === cert.fingerprint) return;
  const mine = createPublicKey(key).export({ type: "spki", format: "der" });
  const theirs = cert.publicKey.export({ type: "spki", format: "der" });
  if (!equalBytes(new Uint8Array(mine), new Uint8Array(theirs)))
    throw new KeyMismatchError("the signing key does not belong to the signer certificate");
  keyChecked.set(key, cert.fingerprint);
}

/**
 * The SignedData for `content`, signed by `signer` and bound to `binding`. The content is copied once, into the
 * output (a 10 MiB record is not re-copied per nesting level).
 */
export function signRecord(
  content: Uint8Array,
  signer: RecordSigner,
  binding: RecordBinding,
  opts: { now?: Date; purpose?: SignaturePurpose } = {},
): Uint8Array {
  const parts = signedRecordParts(content, signer, binding, opts);
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * signRecord's bytes as consecutive parts, `content` itself (not a copy) among them: what sealSignedRecord (seal.ts)
 * encrypts without ever laying the SignedData out whole.
 */
export function signedRecordParts(
  content: Uint8Array,
  signer: RecordSigner,
  binding: RecordBinding,
  opts: { now?: Date; purpose?: SignaturePurpose } = {},
): Uint8Array[] {
  requireBytes(content, "content");
  const key = requirePrivateKey(signer.key);
  const cert = loadCertificate(signer.certificate);
  requireKeyOf(key, cert);
  const suite = signatureSuite(cert.kind, cert.curve?.name);
  const digest = createHash(suite.hash).update(content).digest();
  const attrs = [
    attribute(ATTR_CONTENT_TYPE.der, CT_DATA.der),
    attribute(ATTR_SIGNING_TIME.der, utcTime(opts.now ?? new Date())),
    attribute(ATTR_MESSAGE_DIGEST.der, tlv(TAG.OCTET_STRING, digest)),
    attribute(BINDING_ATTRIBUTES[opts.purpose ?? "record"].der, encodeBinding(binding)),
  ].sort(derSetOrder);
  // RFC 5652 5.4: the signature covers the attributes encoded as a SET OF (tag 0x31), stored as [0] IMPLICIT.
  const signedSet = tlv(TAG.SET, ...attrs);
  const signature = sign(
    suite.hash,
    signedSet,
    suite.pss ? { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: PSS_SALT_BYTES } : key,
  );
  const signerInfo = tlv(
    TAG.SEQUENCE,
    VERSION_1,
    cert.issuerAndSerial,
    suite.digestAlgorithm,
    concat([Uint8Array.of(0xa0), signedSet.subarray(1)]),
    suite.signatureAlgorithm,
    tlv(TAG.OCTET_STRING, new Uint8Array(signature)),
  );
  const certs = [
    cert.der,
    ...(signer.chain ?? []).map((c) => loadCertificate(c).der).filter((d) => !equalBytes(d, cert.der)),
  ];
  return layoutSignedData(content, suite.digestAlgorithm, tlv(0xa0, ...certs), tlv(TAG.SET, signerInfo));
}

/** ContentInfo { id-signedData, [0] SignedData { 1, {digest}, { id-data, [0] OCTET STRING content }, certs, infos } } */
function layoutSignedData(
  content: Uint8Array,
  digestAlgorithm: Uint8Array,
  certificates: Uint8Array,
  signerInfos: Uint8Array,
): Uint8Array[] {
  const octets = header(TAG.OCTET_STRING, content.length);
  const explicitContent = header(0xa0, octets.length + content.length);
  const encapBody = CT_DATA.der.length + explicitContent.length + octets.length + content.length;
  const encapHeader = header(TAG.SEQUENCE, encapBody);
  const digestAlgorithms = tlv(TAG.SET, digestAlgorithm);
  const sdBody =
    VERSION_1.length +
    digestAlgorithms.length +
    encapHeader.length +
    encapBody +
    certificates.length +
    signerInfos.length;
  const sdHeader = header(TAG.SEQUENCE, sdBody);
  const explicitSd = header(0xa0, sdHeader.length + sdBody);
  const ciBody = CT_SIGNED_DATA.der.length + explicitSd.length + sdHeader.length + sdBody;
  const head = concat([
    header(TAG.SEQUENCE, ciBody),
    CT_SIGNED_DATA.der,
    explicitSd,
    sdHeader,
    VERSION_1,
    digestAlgorithms,
    encapHeader,
    CT_DATA.der,
    explicitContent,
    octets,
  ]);
  return [head, content, certificates, signerInfos];
}
