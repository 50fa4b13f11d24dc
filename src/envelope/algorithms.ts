/**
 * The allow-list: every OID the envelope writes or accepts, in one place. Anything not listed here is refused with
 * UnsupportedAlgorithmError (or InvalidOriginatorKeyError for curves), never guessed at. Adding an algorithm means
 * adding it here and to docs/envelope.md, nowhere else.
 */
import { decodeOid, encodeOid, equalBytes, TAG, tlv } from "./der.js";
import {
  CURVES as POLICY_CURVES,
  type Curve as PolicyCurve,
  type CurveName,
  RSA_POLICY,
  curveByName,
} from "../policy/keys.js";

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
/** A signed record (sign-then-encrypt): the encrypted content is a CMS SignedData over the record (docs/envelope.md). */
export const CT_SIGNED_DATA = alg("id-signedData", "1.2.840.113549.1.7.2");

/** What the encrypted content of an envelope is: the record itself, or a SignedData that carries it. */
export type ContentKind = "data" | "signed-data";
export const CONTENT_TYPES: Readonly<Record<ContentKind, Algorithm>> = { data: CT_DATA, "signed-data": CT_SIGNED_DATA };

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
export const SHA384 = alg("sha384", "2.16.840.1.101.3.4.2.2");
export const SHA512 = alg("sha512", "2.16.840.1.101.3.4.2.3");
export const RSA_MIN_BITS = RSA_POLICY.minBits;
export const RSA_MAX_BITS = RSA_POLICY.maxBits;

export type { CurveName } from "../policy/keys.js";

/** An accepted curve (policy/keys.ts, the one table of key types) with its OID's DER, for byte-wise matching. */
export interface Curve extends Algorithm, Omit<PolicyCurve, "oid" | "name"> {
  readonly name: CurveName;
}

export const CURVES: readonly Curve[] = POLICY_CURVES.map((c) => ({ ...c, ...alg(c.name, c.oid), name: c.name }));

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

// ---- signed records (signed.ts): one digest and one signature algorithm per key type, nothing negotiated ------

export const ECDSA_SHA256 = alg("ecdsa-with-SHA256", "1.2.840.10045.4.3.2");
export const ECDSA_SHA384 = alg("ecdsa-with-SHA384", "1.2.840.10045.4.3.3");
export const ECDSA_SHA512 = alg("ecdsa-with-SHA512", "1.2.840.10045.4.3.4");
export const RSASSA_PSS = alg("id-RSASSA-PSS", "1.2.840.113549.1.1.10");

/** CMS attributes (RFC 5652 11) and certvault's record binding (an OID under 2.25, ITU-T X.667: no registry needed). */
export const ATTR_CONTENT_TYPE = alg("contentType", "1.2.840.113549.1.9.3");
export const ATTR_MESSAGE_DIGEST = alg("messageDigest", "1.2.840.113549.1.9.4");
export const ATTR_SIGNING_TIME = alg("signingTime", "1.2.840.113549.1.9.5");
export const ATTR_RECORD_BINDING = alg("certvault-recordBinding", "2.25.91514299663583452784426527990851682588");
/** The same binding on a grant statement (grant.ts): its own OID, so that neither can be passed off as the other. */
export const ATTR_GRANT_BINDING = alg("certvault-grantBinding", "2.25.313351292204916139850687390172104278746");

export interface SignatureSuite {
  /** node:crypto hash name. */
  readonly hash: "sha256" | "sha384" | "sha512";
  /** DER of the digest AlgorithmIdentifier (parameters absent, RFC 5754). */
  readonly digestAlgorithm: Uint8Array;
  /** DER of the signature AlgorithmIdentifier. */
  readonly signatureAlgorithm: Uint8Array;
  readonly pss: boolean;
}

const PSS_SALT_BYTES = 32;
/** RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt (RFC 4056), written the way OpenSSL writes it. */
const PSS_ALG_ID = tlv(
  TAG.SEQUENCE,
  RSASSA_PSS.der,
  tlv(
    TAG.SEQUENCE,
    tlv(0xa0, tlv(TAG.SEQUENCE, SHA256.der)),
    tlv(0xa1, tlv(TAG.SEQUENCE, MGF1.der, tlv(TAG.SEQUENCE, SHA256.der))),
    tlv(0xa2, Uint8Array.of(TAG.INTEGER, 1, PSS_SALT_BYTES)),
  ),
);
export { PSS_SALT_BYTES };

const DIGESTS = { sha256: SHA256, sha384: SHA384, sha512: SHA512 } as const;
const ECDSA = { sha256: ECDSA_SHA256, sha384: ECDSA_SHA384, sha512: ECDSA_SHA512 } as const;

/**
 * The suite for a signer key: RSA with RSASSA-PSS SHA-256; EC with ECDSA and the curve's hash from the key table
 * (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512: matching strengths, RFC 5753 8).
 */
export function signatureSuite(kind: "ec" | "rsa", curve: CurveName | undefined): SignatureSuite {
  if (kind === "rsa")
    return {
      hash: "sha256",
      digestAlgorithm: tlv(TAG.SEQUENCE, SHA256.der),
      signatureAlgorithm: PSS_ALG_ID,
      pss: true,
    };
  const hash = curveByName(curve)?.hash ?? "sha256";
  return {
    hash,
    digestAlgorithm: tlv(TAG.SEQUENCE, DIGESTS[hash].der),
    signatureAlgorithm: tlv(TAG.SEQUENCE, ECDSA[hash].der),
    pss: false,
  };
}

const KNOWN: readonly Algorithm[] = [
  SHA384,
  SHA512,
  ECDSA_SHA256,
  ECDSA_SHA384,
  ECDSA_SHA512,
  RSASSA_PSS,
  ATTR_CONTENT_TYPE,
  ATTR_MESSAGE_DIGEST,
  ATTR_SIGNING_TIME,
  ATTR_RECORD_BINDING,
  CT_DATA,
  CT_SIGNED_DATA,
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
