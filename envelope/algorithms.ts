/**
 * The allow-list: every OID the envelope writes or accepts, in one place. Anything not listed here is refused with
 * UnsupportedAlgorithmError (or InvalidOriginatorKeyError for curves), never guessed at. Adding an algorithm means
 * adding it here and to docs/envelope.md, nowhere else.
 */
import { decodeOid, encodeOid, equalBytes, TAG, tlv } from "./der.js";

export interface Algorithm {
  readonly name: string;
  readonly oid: string;
  /** DER of the OBJECT IDENTIFIER (tag, length, value), compared byte-wise against input. */
  readonly der: Uint8Array;
}

const alg = (name: string, oid: string): Algorithm => ({ name, oid, der: encodeOid(oid) });

/** CMS content types (RFC 5652, RFC 5083). */
export const CT_DATA = alg("id-data", "1.2.840.113549.1.7.1");
export const CT_AUTH_ENVELOPED_DATA = alg("id-ct-authEnvelopedData", "1.2.840.113549.1.9.16.1.23");

/** Content encryption (RFC 5084): the only one. Nonce and tag sizes are pinned, not read from the message. */
export const AES256_GCM = alg("aes256-GCM", "2.16.840.1.101.3.4.1.46");
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;
export const CEK_BYTES = 32;

/** Key wrap (RFC 3394 / RFC 3565); its AlgorithmIdentifier has absent parameters. */
export const AES256_WRAP = alg("id-aes256-wrap", "2.16.840.1.101.3.4.1.45");
export const AES_WRAP_IV = Buffer.from("a6a6a6a6a6a6a6a6", "hex");

/** Key agreement (RFC 5753): ephemeral-static ECDH, cofactor 1 curves, X9.63 KDF with SHA-256. */
export const ECDH_SHA256_KDF = alg("dhSinglePass-stdDH-sha256kdf-scheme", "1.3.132.1.11.1");
export const EC_PUBLIC_KEY = alg("id-ecPublicKey", "1.2.840.10045.2.1");

/** Key transport (RFC 8017 / RFC 4055): RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label. */
export const RSAES_OAEP = alg("id-RSAES-OAEP", "1.2.840.113549.1.1.7");
export const RSA_ENCRYPTION = alg("rsaEncryption", "1.2.840.113549.1.1.1");
export const SHA256 = alg("sha256", "2.16.840.1.101.3.4.2.1");
export const MGF1 = alg("id-mgf1", "1.2.840.113549.1.1.8");
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;

export type CurveName = "P-256" | "P-384";

export interface Curve extends Algorithm {
  readonly name: CurveName;
  /** Name for crypto.createECDH. */
  readonly nodeName: string;
  /** Bytes of one coordinate; an uncompressed point is 1 + 2 * coordinateBytes. */
  readonly coordinateBytes: number;
}

export const CURVES: readonly Curve[] = [
  { ...alg("P-256", "1.2.840.10045.3.1.7"), name: "P-256", nodeName: "prime256v1", coordinateBytes: 32 },
  { ...alg("P-384", "1.3.132.0.34"), name: "P-384", nodeName: "secp384r1", coordinateBytes: 48 },
];

/** Where a curve is known by its node name (KeyObject.asymmetricKeyDetails.namedCurve). */
export function curveByNodeName(nodeName: string | undefined): Curve | undefined {
  return CURVES.find((c) => c.nodeName === nodeName);
}

export function curveByOid(oidDer: Uint8Array): Curve | undefined {
  return CURVES.find((c) => equalBytes(c.der, oidDer));
}

/** Uncompressed point length → curve; used when an originator key carries no parameters (as OpenSSL writes it). */
export function curveByPointLength(length: number): Curve | undefined {
  return CURVES.find((c) => 1 + 2 * c.coordinateBytes === length);
}

// ---- fixed AlgorithmIdentifier encodings we write (and that match OpenSSL's byte for byte) ---------------------

/** SEQUENCE { id-aes256-wrap } — also ECC-CMS-SharedInfo.keyInfo. */
export const AES256_WRAP_ALG_ID = tlv(TAG.SEQUENCE, AES256_WRAP.der);

/** SEQUENCE { dhSinglePass-stdDH-sha256kdf-scheme, SEQUENCE { id-aes256-wrap } } */
export const KARI_KEY_ENC_ALG_ID = tlv(TAG.SEQUENCE, ECDH_SHA256_KDF.der, AES256_WRAP_ALG_ID);

/** SEQUENCE { id-RSAES-OAEP, RSAES-OAEP-params { [0] sha256, [1] mgf1(sha256) } } */
export const KTRI_KEY_ENC_ALG_ID = tlv(
  TAG.SEQUENCE,
  RSAES_OAEP.der,
  tlv(
    TAG.SEQUENCE,
    tlv(0xa0, tlv(TAG.SEQUENCE, SHA256.der)),
    tlv(0xa1, tlv(TAG.SEQUENCE, MGF1.der, tlv(TAG.SEQUENCE, SHA256.der))),
  ),
);

/** SEQUENCE { id-ecPublicKey } — originatorKey.algorithm, curve implied by the recipients (RFC 5753, OpenSSL). */
export const ORIGINATOR_ALG_ID = tlv(TAG.SEQUENCE, EC_PUBLIC_KEY.der);

const KNOWN: readonly Algorithm[] = [
  CT_DATA,
  CT_AUTH_ENVELOPED_DATA,
  AES256_GCM,
  AES256_WRAP,
  ECDH_SHA256_KDF,
  EC_PUBLIC_KEY,
  RSAES_OAEP,
  RSA_ENCRYPTION,
  SHA256,
  MGF1,
  ...CURVES,
];

/** A readable description of an OID for messages and inspect(): its name when known, else the dotted form. */
export function describeOid(oidDer: Uint8Array): { oid: string; name: string } {
  const known = KNOWN.find((a) => equalBytes(a.der, oidDer));
  if (known) return { oid: known.oid, name: known.name };
  const dotted = oidDer[0] === TAG.OID && (oidDer[1] as number) < 0x80 ? decodeOid(oidDer.subarray(2)) : undefined;
  return { oid: dotted ?? "(malformed)", name: dotted ?? "(malformed)" };
}
