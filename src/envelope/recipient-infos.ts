/**
 * Parsing of RecipientInfo (RFC 5652 6.2) for the two kinds certvault uses. Every RecipientInfo is checked against
 * the allow-list when the envelope is read, not only the one that will be opened, so that inspect(), recipientsOf()
 * and open() agree on what is acceptable. Raw octets are kept so that rewrapping can copy untouched parts verbatim.
 */
import {
  type Curve,
  AES256_WRAP_ALG_ID,
  ECDH_SHA256_KDF,
  EC_PUBLIC_KEY,
  MGF1,
  RSAES_OAEP,
  SHA256,
  curveByOid,
  curveByPointLength,
  describeOid,
} from "./algorithms.js";
import { type Tlv, DerReader, TAG, equalBytes, integerContent } from "./der.js";
import { InvalidOriginatorKeyError, UnsupportedAlgorithmError, UnsupportedFeatureError } from "./errors.js";

/** A recipient identifier: issuerAndSerialNumber or subjectKeyIdentifier. */
export interface Rid {
  /** DER of the issuer Name, and the content octets of the serial number INTEGER. */
  readonly issuer?: Uint8Array;
  readonly serial?: Uint8Array;
  readonly subjectKeyIdentifier?: Uint8Array;
}

export interface Ktri {
  readonly kind: "ktri";
  readonly raw: Uint8Array;
  readonly rid: Rid;
  readonly encryptedKey: Uint8Array;
}

export interface KariRecipient {
  readonly raw: Uint8Array;
  readonly rid: Rid;
  readonly encryptedKey: Uint8Array;
}

export interface Kari {
  readonly kind: "kari";
  readonly raw: Uint8Array;
  /** The curve named in the originator key's parameters, if any (OpenSSL leaves them absent). */
  readonly curve?: Curve;
  /** The ephemeral public key: an uncompressed point, checked for shape only (on-curve is checked by ECDH). */
  readonly point: Uint8Array;
  readonly ukm?: Uint8Array;
  /** Octets between the version and the recipientEncryptedKeys, reused verbatim when some keys are dropped. */
  readonly head: readonly Uint8Array[];
  readonly recipients: readonly KariRecipient[];
}

export type RecipientInfo = Ktri | Kari;

const badOriginator = (m: string) => new InvalidOriginatorKeyError(`originator key: ${m}`);

function readIssuerAndSerial(tlv: Tlv): Rid {
  const r = new DerReader(tlv.value);
  const issuer = r.read(TAG.SEQUENCE, "issuer");
  checkName(issuer.value);
  const serial = integerContent(r.read(TAG.INTEGER, "serialNumber").value);
  r.end("IssuerAndSerialNumber");
  return { issuer: issuer.raw, serial };
}

/** Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }: shape only. */
function checkName(value: Uint8Array): void {
  const seq = new DerReader(value);
  while (!seq.done) {
    const set = seq.enter(TAG.SET, "RelativeDistinguishedName");
    do {
      const atv = set.enter(TAG.SEQUENCE, "AttributeTypeAndValue");
      atv.read(TAG.OID, "attribute type");
      atv.read(undefined, "attribute value");
      atv.end("AttributeTypeAndValue");
    } while (!set.done);
  }
}

/** An AlgorithmIdentifier's OID (as DER) and raw parameters TLV, if any. */
function readAlgorithm(r: DerReader, what: string): { oid: Uint8Array; params?: Tlv } {
  const a = r.enter(TAG.SEQUENCE, what);
  const oid = a.read(TAG.OID, what).raw;
  const params = a.done ? undefined : a.read(undefined, what);
  a.end(what);
  return params ? { oid, params } : { oid };
}

const isAbsentOrNull = (p: Tlv | undefined) => p === undefined || (p.tag === TAG.NULL && p.value.length === 0);

/** RSAES-OAEP-params: exactly SHA-256, MGF1 with SHA-256, the default (empty) label. */
function checkOaepParams(params: Tlv | undefined): void {
  const unsupported = () =>
    new UnsupportedAlgorithmError("RSAES-OAEP must use SHA-256 and MGF1-SHA-256 without a label");
  if (params?.tag !== TAG.SEQUENCE) throw unsupported();
  const r = new DerReader(params.value);
  // Absent fields mean the SHA-1 defaults of RFC 8017, which are not allowed.
  if (r.peekTag() !== 0xa0) throw unsupported();
  const hash = readAlgorithm(r.enter(0xa0, "hashFunc"), "hashFunc");
  if (r.peekTag() !== 0xa1) throw unsupported();
  const mgf = readAlgorithm(r.enter(0xa1, "maskGenFunc"), "maskGenFunc");
  if (!r.done) throw unsupported(); // pSourceFunc: DER omits the default, and a non-empty label is not used
  if (!equalBytes(hash.oid, SHA256.der) || !isAbsentOrNull(hash.params)) throw unsupported();
  if (!equalBytes(mgf.oid, MGF1.der) || mgf.params?.tag !== TAG.SEQUENCE) throw unsupported();
  const mgfHash = readAlgorithm(new DerReader(mgf.params.raw), "MGF1 hash");
  if (!equalBytes(mgfHash.oid, SHA256.der) || !isAbsentOrNull(mgfHash.params)) throw unsupported();
}

function parseKtri(tlv: Tlv): Ktri {
  const r = new DerReader(tlv.value);
  const version = r.readSmallInt("KeyTransRecipientInfo version");
  const ridTlv = r.read(undefined, "rid");
  let rid: Rid;
  if (ridTlv.tag === TAG.SEQUENCE && version === 0) rid = readIssuerAndSerial(ridTlv);
  else if (ridTlv.tag === 0x80 && version === 2) rid = { subjectKeyIdentifier: ridTlv.value };
  else throw new UnsupportedFeatureError("KeyTransRecipientInfo: unexpected version or recipient identifier");
  const alg = readAlgorithm(r, "keyEncryptionAlgorithm");
  if (!equalBytes(alg.oid, RSAES_OAEP.der)) {
    throw new UnsupportedAlgorithmError(`key transport algorithm ${describeOid(alg.oid).name} is not allowed`);
  }
  checkOaepParams(alg.params);
  const encryptedKey = r.read(TAG.OCTET_STRING, "encryptedKey").value;
  r.end("KeyTransRecipientInfo");
  return { kind: "ktri", raw: tlv.raw, rid, encryptedKey };
}

function parseOriginator(tlv: Tlv): { curve?: Curve; point: Uint8Array } {
  const outer = new DerReader(tlv.value);
  const choice = outer.read(undefined, "originator");
  outer.end("originator");
  if (choice.tag !== 0xa1) throw new UnsupportedFeatureError("only ephemeral originator keys are supported");
  const r = new DerReader(choice.value, badOriginator);
  const a = r.enter(TAG.SEQUENCE, "algorithm");
  if (!equalBytes(a.read(TAG.OID, "algorithm").raw, EC_PUBLIC_KEY.der)) throw badOriginator("not an EC key");
  let curve: Curve | undefined;
  if (!a.done) {
    const p = a.read(undefined, "parameters");
    if (p.tag === TAG.OID) {
      curve = curveByOid(p.raw);
      if (!curve) throw badOriginator(`curve ${describeOid(p.raw).oid} is not allowed`);
    } else if (!isAbsentOrNull(p)) throw badOriginator("explicit curve parameters are refused");
  }
  a.end("algorithm");
  const point = r.readBitStringOctets("publicKey");
  r.end("originatorKey");
  if (point[0] !== 0x04) throw badOriginator("point must be uncompressed");
  const byLength = curveByPointLength(point.length);
  if (!byLength || (curve && curve !== byLength)) throw badOriginator("point has the wrong length");
  return curve ? { curve, point } : { point };
}

function parseRid(tlv: Tlv): Rid {
  if (tlv.tag === TAG.SEQUENCE) return readIssuerAndSerial(tlv);
  if (tlv.tag !== 0xa0) throw new UnsupportedFeatureError("KeyAgreeRecipientIdentifier: unexpected choice");
  // rKeyId: the optional date and other attribute are hints certvault does not need.
  const r = new DerReader(tlv.value);
  const subjectKeyIdentifier = r.read(TAG.OCTET_STRING, "subjectKeyIdentifier").value;
  r.optional(0x18, "date");
  r.optional(TAG.SEQUENCE, "other");
  r.end("RecipientKeyIdentifier");
  return { subjectKeyIdentifier };
}

function parseKari(tlv: Tlv): Kari {
  const r = new DerReader(tlv.value);
  if (r.readSmallInt("KeyAgreeRecipientInfo version") !== 3)
    throw new UnsupportedFeatureError("KeyAgreeRecipientInfo version must be 3");
  const originatorTlv = r.read(0xa0, "originator");
  const originator = parseOriginator(originatorTlv);
  const ukmTlv = r.optional(0xa1, "ukm");
  let ukm: Uint8Array | undefined;
  if (ukmTlv) {
    const u = new DerReader(ukmTlv.value);
    ukm = u.read(TAG.OCTET_STRING, "ukm").value;
    u.end("ukm");
  }
  const algRaw = r.read(TAG.SEQUENCE, "keyEncryptionAlgorithm").raw;
  const alg = readAlgorithm(new DerReader(algRaw), "keyEncryptionAlgorithm");
  if (!equalBytes(alg.oid, ECDH_SHA256_KDF.der)) {
    throw new UnsupportedAlgorithmError(`key agreement/KDF ${describeOid(alg.oid).name} is not allowed`);
  }
  if (!alg.params || !equalBytes(alg.params.raw, AES256_WRAP_ALG_ID)) {
    throw new UnsupportedAlgorithmError("key wrap must be id-aes256-wrap with absent parameters");
  }
  const keys = r.enter(TAG.SEQUENCE, "recipientEncryptedKeys");
  r.end("KeyAgreeRecipientInfo");
  const recipients: KariRecipient[] = [];
  while (!keys.done) {
    const rek = keys.read(TAG.SEQUENCE, "RecipientEncryptedKey");
    const k = new DerReader(rek.value);
    const rid = parseRid(k.read(undefined, "rid"));
    const encryptedKey = k.read(TAG.OCTET_STRING, "encryptedKey").value;
    k.end("RecipientEncryptedKey");
    recipients.push({ raw: rek.raw, rid, encryptedKey });
  }
  if (recipients.length === 0) throw new UnsupportedFeatureError("KeyAgreeRecipientInfo without recipients");
  const head = [originatorTlv.raw, ...(ukmTlv ? [ukmTlv.raw] : []), algRaw];
  return { kind: "kari", raw: tlv.raw, ...originator, ...(ukm ? { ukm } : {}), head, recipients };
}

/** Parses one RecipientInfo of a kind certvault supports. */
export function parseRecipientInfo(tlv: Tlv): RecipientInfo {
  switch (tlv.tag) {
    case TAG.SEQUENCE:
      return parseKtri(tlv);
    case 0xa1:
      return parseKari(tlv);
    default:
      throw new UnsupportedFeatureError("only KeyTransRecipientInfo and KeyAgreeRecipientInfo are supported");
  }
}

export const recipientCount = (ri: RecipientInfo): number => (ri.kind === "ktri" ? 1 : ri.recipients.length);
