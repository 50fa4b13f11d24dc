/**
 * Reading a signed record (the must-reject rules of docs/envelope.md "Signed records"): exactly the shape signed.ts
 * writes, DER only. One SignerInfo, identified by issuer and serial, whose certificate is in the SignedData; the one
 * digest and signature algorithm of that key type; signed attributes contentType (id-data), messageDigest, the
 * record binding and optionally signingTime, each once, in DER order; no unsigned attributes, no CRLs, no detached
 * content. The signature is checked with the embedded certificate's key: believing that certificate is the caller's.
 */
import { createHash, verify } from "node:crypto";
import {
  ATTR_CONTENT_TYPE,
  ATTR_GRANT_BINDING,
  ATTR_MESSAGE_DIGEST,
  ATTR_RECORD_BINDING,
  ATTR_SIGNING_TIME,
  CT_DATA,
  CT_SIGNED_DATA,
  PSS_SALT_BYTES,
  describeOid,
  signatureSuite,
} from "./algorithms.js";
import { type RecipientCert, loadCertificate } from "./certs.js";
import { DerReader, TAG, type Tlv, concat, derSetOrder, equalBytes } from "./der.js";
import {
  InvalidSignatureError,
  MalformedEnvelopeError,
  UnsupportedAlgorithmError,
  UnsupportedFeatureError,
} from "./errors.js";
import { requireBytes } from "./options.js";
import type { RecordBinding, SignaturePurpose } from "./signed.js";

export interface VerifiedRecordSignature {
  /** The record (a view into the input). */
  readonly content: Uint8Array;
  readonly binding: RecordBinding;
  /** Which binding attribute it carries: a record's content, or a grant statement. */
  readonly purpose: SignaturePurpose;
  /** The certificate whose key made the signature (not yet trusted: see client-sdk/record-trust.ts). */
  readonly signer: RecipientCert;
  /** Every certificate the SignedData carries, DER, signer first. */
  readonly certificates: readonly Uint8Array[];
  readonly signingTime?: Date;
}

const MAX_CERTIFICATES = 4;
const malformed = (m: string): Error => new MalformedEnvelopeError(`signed record: ${m}`);

export function verifyRecordSignature(bytes: Uint8Array): VerifiedRecordSignature {
  requireBytes(bytes, "signed record");
  const top = new DerReader(bytes, malformed);
  const ci = top.enter(TAG.SEQUENCE, "ContentInfo");
  top.end("ContentInfo");
  const type = ci.read(TAG.OID, "contentType").raw;
  if (!equalBytes(type, CT_SIGNED_DATA.der))
    throw new UnsupportedFeatureError(`content type ${describeOid(type).name} is not SignedData`);
  const explicit = ci.enter(0xa0, "content");
  ci.end("ContentInfo");
  const sd = explicit.enter(TAG.SEQUENCE, "SignedData");
  explicit.end("content");
  if (sd.readSmallInt("version") !== 1) throw malformed("SignedData version must be 1");
  const digestAlgorithms = new DerReader(sd.read(TAG.SET, "digestAlgorithms").value, malformed);
  const digestAlgorithm = digestAlgorithms.read(TAG.SEQUENCE, "digestAlgorithm").raw;
  digestAlgorithms.end("digestAlgorithms");
  const content = readEncapsulated(sd.enter(TAG.SEQUENCE, "encapContentInfo"));
  if (sd.peekTag() !== 0xa0) throw malformed("the signer's certificate must be included");
  const certificates = readCertificates(sd.read(0xa0, "certificates"));
  if (sd.peekTag() === 0xa1) throw new UnsupportedFeatureError("CRLs inside a signed record are not supported");
  const infos = new DerReader(sd.read(TAG.SET, "signerInfos").value, malformed);
  const info = infos.enter(TAG.SEQUENCE, "SignerInfo");
  infos.end("signerInfos (exactly one signer)");
  sd.end("SignedData");
  return verifySignerInfo(info, content, digestAlgorithm, certificates);
}

function readEncapsulated(encap: DerReader): Uint8Array {
  if (!equalBytes(encap.read(TAG.OID, "eContentType").raw, CT_DATA.der))
    throw new UnsupportedFeatureError("the signed content must be id-data");
  if (encap.done) throw new UnsupportedFeatureError("detached content is not supported");
  const wrapper = encap.enter(0xa0, "eContent");
  encap.end("encapContentInfo");
  const content = wrapper.read(TAG.OCTET_STRING, "eContent").value;
  wrapper.end("eContent");
  return content;
}

function readCertificates(set: Tlv): RecipientCert[] {
  const r = new DerReader(set.value, malformed);
  const out: RecipientCert[] = [];
  while (!r.done) {
    if (out.length === MAX_CERTIFICATES) throw malformed(`more than ${MAX_CERTIFICATES} certificates`);
    out.push(loadCertificate(r.read(TAG.SEQUENCE, "certificate").raw));
  }
  return out;
}

function verifySignerInfo(
  info: DerReader,
  content: Uint8Array,
  digestAlgorithm: Uint8Array,
  certificates: RecipientCert[],
): VerifiedRecordSignature {
  if (info.readSmallInt("SignerInfo version") !== 1)
    throw malformed("SignerInfo version must be 1 (issuerAndSerialNumber)");
  const sid = info.read(TAG.SEQUENCE, "sid").raw;
  const matching = certificates.filter((c) => equalBytes(c.issuerAndSerial, sid));
  const signer = matching[0];
  if (!signer || matching.length !== 1)
    throw malformed("the signer's certificate is not (exactly once) in the SignedData");
  const suite = signatureSuite(signer.kind, signer.curve?.name);
  const digestAlg = info.read(TAG.SEQUENCE, "digestAlgorithm").raw;
  if (!equalBytes(digestAlg, suite.digestAlgorithm) || !equalBytes(digestAlgorithm, suite.digestAlgorithm)) {
    throw new UnsupportedAlgorithmError("the digest algorithm does not match the signer's key type");
  }
  const signedAttrs = info.read(0xa0, "signedAttrs");
  if (!equalBytes(info.read(TAG.SEQUENCE, "signatureAlgorithm").raw, suite.signatureAlgorithm)) {
    throw new UnsupportedAlgorithmError("the signature algorithm does not match the signer's key type");
  }
  const signature = info.read(TAG.OCTET_STRING, "signature").value;
  if (info.peekTag() === 0xa1) throw new UnsupportedFeatureError("unsigned attributes are not supported");
  info.end("SignerInfo");
  const attrs = readSignedAttributes(signedAttrs.value);
  const signedSet = concat([Uint8Array.of(TAG.SET), signedAttrs.raw.subarray(1)]);
  const key = suite.pss
    ? { key: signer.publicKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: PSS_SALT_BYTES }
    : signer.publicKey;
  let ok: boolean;
  try {
    ok = verify(suite.hash, signedSet, key, signature);
  } catch {
    ok = false;
  }
  const digest = createHash(suite.hash).update(content).digest();
  if (!ok || !equalBytes(new Uint8Array(digest), attrs.messageDigest)) throw new InvalidSignatureError();
  return {
    content,
    binding: attrs.binding,
    purpose: attrs.purpose,
    signer,
    certificates: [signer.der, ...certificates.filter((c) => c !== signer).map((c) => c.der)],
    ...(attrs.signingTime ? { signingTime: attrs.signingTime } : {}),
  };
}

interface SignedAttributes {
  messageDigest: Uint8Array;
  binding: RecordBinding;
  purpose: SignaturePurpose;
  signingTime?: Date;
}

function readSignedAttributes(value: Uint8Array): SignedAttributes {
  const r = new DerReader(value, malformed);
  const seen = new Map<string, Uint8Array>();
  let previous: Uint8Array | undefined;
  while (!r.done) {
    const raw = r.read(TAG.SEQUENCE, "attribute").raw;
    if (previous && derSetOrder(previous, raw) > 0) throw malformed("signed attributes are not in DER order");
    previous = raw;
    const a = new DerReader(raw, malformed).enter(TAG.SEQUENCE, "attribute");
    const type = a.read(TAG.OID, "attrType").raw;
    const values = a.enter(TAG.SET, "attrValues");
    a.end("attribute");
    const v = values.read(undefined, "attrValue").raw;
    values.end("attrValues (exactly one value)");
    const name = [
      ATTR_CONTENT_TYPE,
      ATTR_MESSAGE_DIGEST,
      ATTR_SIGNING_TIME,
      ATTR_RECORD_BINDING,
      ATTR_GRANT_BINDING,
    ].find((x) => equalBytes(x.der, type))?.name;
    if (!name) throw new UnsupportedFeatureError(`signed attribute ${describeOid(type).name} is not allowed`);
    if (seen.has(name)) throw malformed(`signed attribute ${name} appears twice`);
    seen.set(name, v);
  }
  const contentType = seen.get(ATTR_CONTENT_TYPE.name);
  const digest = seen.get(ATTR_MESSAGE_DIGEST.name);
  const recordBinding = seen.get(ATTR_RECORD_BINDING.name);
  const grantBinding = seen.get(ATTR_GRANT_BINDING.name);
  if (recordBinding && grantBinding) throw malformed("a signature binds a record or a grant, not both");
  const binding = recordBinding ?? grantBinding;
  if (!contentType || !digest || !binding)
    throw malformed("contentType, messageDigest and the record binding are required");
  if (!equalBytes(contentType, CT_DATA.der)) throw malformed("the contentType attribute must be id-data");
  const time = seen.get(ATTR_SIGNING_TIME.name);
  const purpose: SignaturePurpose = recordBinding ? "record" : "grant";
  return {
    messageDigest: readWholeOctets(digest),
    binding: readBinding(binding),
    purpose,
    ...(time ? { signingTime: readTime(time) } : {}),
  };
}

function readWholeOctets(raw: Uint8Array): Uint8Array {
  const r = new DerReader(raw, malformed);
  const v = r.read(TAG.OCTET_STRING, "messageDigest").value;
  r.end("messageDigest");
  return v;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function readBinding(raw: Uint8Array): RecordBinding {
  const outer = new DerReader(raw, malformed);
  const b = outer.enter(TAG.SEQUENCE, "record binding");
  outer.end("record binding");
  if (b.readSmallInt("binding version") !== 1) throw new UnsupportedFeatureError("unknown record binding version");
  try {
    const owner = utf8.decode(b.read(0x0c, "owner").value);
    const id = utf8.decode(b.read(0x0c, "recordId").value);
    b.end("record binding");
    return { owner, id };
  } catch (err) {
    if (err instanceof TypeError) throw malformed("binding fields must be UTF-8");
    throw err;
  }
}

/** UTCTime YYMMDDHHMMSSZ (as RFC 5280 restricts it), years 1950-2049, every field in its range (no normalising). */
function readTime(raw: Uint8Array): Date {
  const r = new DerReader(raw, malformed);
  const t = r.read(0x17, "signingTime");
  r.end("signingTime");
  const m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(Buffer.from(t.value).toString("latin1"));
  if (!m) throw malformed("signingTime must be a UTCTime YYMMDDHHMMSSZ");
  const [yy, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, mo - 1, d, h, mi, s));
  // Date.UTC would roll month 13 or day 32 over into a valid date: signRecord never writes one, so none is read.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || date.getUTCHours() !== h || mi > 59 || s > 59)
    throw malformed("signingTime is not a valid date");
  return date;
}
