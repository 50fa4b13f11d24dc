/**
 * The key policy: which public keys certvault certifies, admits and seals to, with their OIDs and the algorithms each
 * is used with. One table, in the pattern of panva/jose's JWE algorithm registry: the CA (CSR vetting, `keygen`,
 * `enroll` and `ca init --key-type`), the server (login, registry vetting), the envelope (recipients and signers)
 * and the SDK (trust) all read it, so a curve added here is accepted everywhere at once, and test/policy/ runs every
 * row through issuance, login, sealing and `openssl cms`. Pure: no I/O, no clock, no error classes (each caller turns
 * a refusal into its own stable code).
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { KeyUsageFlags, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { ECParameters } from "@peculiar/asn1-ecc";
import { RSAPublicKey } from "@peculiar/asn1-rsa";

export type Hash = "sha256" | "sha384" | "sha512";
export type KeyFamily = "EC" | "RSA";

export interface CurvePolicy {
  /** The `--key-type` spelling. */
  readonly keyType: string;
  /** WebCrypto / NIST name. */
  readonly name: string;
  /** namedCurve OID (RFC 5480). */
  readonly oid: string;
  /** OpenSSL / node:crypto name (createECDH, KeyObject.asymmetricKeyDetails.namedCurve). */
  readonly nodeName: string;
  /** Bytes of one coordinate; an uncompressed point is 1 + 2 * coordinateBytes. */
  readonly coordinateBytes: number;
  /** ECDSA signatures by this key (CSR, certificates, CMS SignedData) use this hash: matching strength (RFC 5753 8). */
  readonly hash: Hash;
  /** ecdsa-with-SHA* (RFC 5758). */
  readonly signatureOid: string;
}

export const EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1";
export const RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1";

/**
 * Accepted EC curves. Sealing to any of them: KeyAgreeRecipientInfo, ephemeral-static ECDH, X9.63 KDF with SHA-256,
 * AES-256 key wrap (RFC 5753 dhSinglePass-stdDH-sha256kdf-scheme), whatever the curve. Signing: ECDSA with `hash`.
 */
export const CURVES = [
  {
    keyType: "ec-p256",
    name: "P-256",
    oid: "1.2.840.10045.3.1.7",
    nodeName: "prime256v1",
    coordinateBytes: 32,
    hash: "sha256",
    signatureOid: "1.2.840.10045.4.3.2",
  },
  {
    keyType: "ec-p384",
    name: "P-384",
    oid: "1.3.132.0.34",
    nodeName: "secp384r1",
    coordinateBytes: 48,
    hash: "sha384",
    signatureOid: "1.2.840.10045.4.3.3",
  },
  {
    keyType: "ec-p521",
    name: "P-521",
    oid: "1.3.132.0.35",
    nodeName: "secp521r1",
    coordinateBytes: 66,
    hash: "sha512",
    signatureOid: "1.2.840.10045.4.3.4",
  },
] as const satisfies readonly CurvePolicy[];

export type Curve = (typeof CURVES)[number];
export type CurveName = Curve["name"];

/**
 * Accepted RSA keys: any modulus from `minBits` to `maxBits`, an odd public exponent of at least 3. Sealing:
 * KeyTransRecipientInfo, RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017, RFC 4055). Signing: RSASSA-PSS with
 * SHA-256 in CMS (RFC 4056), RSASSA-PKCS1-v1_5 with SHA-256 for CSRs and certificates. `generatedBits`: what
 * `--key-type rsa-3072` makes; `testedBits`: the sizes test/policy/ issues, logs in and seals to.
 */
export const RSA_POLICY = {
  oid: RSA_ENCRYPTION_OID,
  minBits: 2048,
  maxBits: 8192,
  generatedBits: 3072,
  hash: "sha256",
  testedBits: [2048, 3072],
} as const;

/** Key usage a client certificate needs to be sealed to: keyAgreement for EC (ECDH), keyEncipherment for RSA. */
export const SEALING_USAGE = { EC: "keyAgreement", RSA: "keyEncipherment" } as const;
/** The same as KeyUsage bits (RFC 5280 4.2.1.3; @peculiar/x509 and @peculiar/asn1-x509 number them alike). */
export const SEALING_FLAG = { EC: KeyUsageFlags.keyAgreement, RSA: KeyUsageFlags.keyEncipherment } as const;

/**
 * RFC 5280 4.2.1.3 for a recipient: a KeyUsage extension, when present, must allow sealing; absent means
 * unrestricted (the envelope seals to any standard certificate; our own client profile demands the extension).
 */
export function keyUsageAllowsSealing(keyUsage: number | undefined, family: KeyFamily): boolean {
  return keyUsage === undefined || (keyUsage & SEALING_FLAG[family]) !== 0;
}

/** Key types certvault generates (`keygen`, `enroll`, `ca init --key-type`): every curve, and RSA at one size. */
export type KeyType = Curve["keyType"] | "rsa-3072";
export const KEY_TYPES: readonly KeyType[] = [...CURVES.map((c) => c.keyType), "rsa-3072"];
export const DEFAULT_KEY_TYPE: KeyType = "ec-p256";

/** Hashes a CSR's proof-of-possession signature may use. */
export const CSR_SIGNATURE_HASHES: ReadonlySet<string> = new Set(["SHA-256", "SHA-384", "SHA-512"]);

/** Names for OIDs that are refused, so that a refusal says "secp256k1" rather than a dotted number. */
const REFUSED_NAMES: Readonly<Record<string, string>> = {
  "1.3.132.0.10": "secp256k1",
  "1.2.840.10045.3.1.1": "P-192",
  "1.3.132.0.33": "P-224",
  "1.3.101.110": "X25519",
  "1.3.101.111": "X448",
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
  "1.2.840.10040.4.1": "DSA",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
};

export const curveByOid = (oid: string): Curve | undefined => CURVES.find((c) => c.oid === oid);
export const curveByName = (name: string | undefined): Curve | undefined => CURVES.find((c) => c.name === name);
export const curveByNodeName = (n: string | undefined): Curve | undefined => CURVES.find((c) => c.nodeName === n);

const CURVE_LIST = CURVES.map((c) => c.name).join(", ");
const ACCEPTED = `EC (${CURVE_LIST}) and RSA (${RSA_POLICY.minBits} to ${RSA_POLICY.maxBits} bits)`;

/** An accepted key, as the table describes it. */
export type AcceptedKey =
  | { readonly ok: true; readonly family: "EC"; readonly keyType: string; readonly curve: Curve }
  | { readonly ok: true; readonly family: "RSA"; readonly keyType: string; readonly bits: number };
export type KeyVerdict = AcceptedKey | { readonly ok: false; readonly reason: string };

const refused = (reason: string): KeyVerdict => ({ ok: false, reason });

/**
 * The verdict on a SubjectPublicKeyInfo (DER), the one key rule: a named curve of the table, or RSA within the size
 * range with a valid exponent. Never throws: damaged input (found by fuzzing) is a refusal. Point-on-curve checks
 * are left to node:crypto, which makes them when the key is imported. Cost: 0.4-0.7 ms per call (EC P-256, RSA-3072;
 * mostly the @peculiar ASN.1 parse), measured on the shared 2-core machine while the test suite and a soak ran, so an
 * upper bound; node's createPublicKey on the same SPKI took 1.7-2.0 ms there. Callers judge a certificate once and
 * cache it (server login and registry vetting per fingerprint, the envelope's certificate cache).
 */
export function judgeSpki(spki: Uint8Array | ArrayBuffer): KeyVerdict {
  let info: SubjectPublicKeyInfo;
  try {
    info = AsnConvert.parse(spki instanceof Uint8Array ? spki : new Uint8Array(spki), SubjectPublicKeyInfo);
  } catch {
    return refused("the public key cannot be read");
  }
  const { algorithm, parameters } = info.algorithm;
  try {
    if (algorithm === EC_PUBLIC_KEY_OID) return judgeEc(parameters);
    if (algorithm === RSA_ENCRYPTION_OID) return judgeRsa(parameters, info.subjectPublicKey);
  } catch {
    return refused("the public key cannot be read");
  }
  const name = REFUSED_NAMES[algorithm] ?? algorithm;
  return refused(`unsupported key algorithm ${name}: only ${ACCEPTED} keys are accepted`);
}

function judgeEc(parameters: ArrayBuffer | null | undefined): KeyVerdict {
  // Named curves only: explicit domain parameters (a SEQUENCE instead of an OID) never reach OpenSSL.
  const bytes = parameters ? new Uint8Array(parameters) : undefined;
  const oid = bytes && bytes[0] === 0x06 ? AsnConvert.parse(bytes, ECParameters).namedCurve : undefined;
  if (oid === undefined)
    return refused(`EC key with explicit curve parameters: only named curves ${CURVE_LIST} are accepted`);
  const curve = curveByOid(oid);
  if (!curve) return refused(`unsupported EC curve ${REFUSED_NAMES[oid] ?? oid}: only ${CURVE_LIST} are accepted`);
  return { ok: true, family: "EC", keyType: curve.keyType, curve };
}

function judgeRsa(parameters: ArrayBuffer | null | undefined, key: ArrayBuffer): KeyVerdict {
  const p = parameters ? new Uint8Array(parameters) : undefined;
  if (p && !(p.length === 2 && p[0] === 0x05 && p[1] === 0)) return refused("rsaEncryption parameters must be NULL");
  const rsa = AsnConvert.parse(key, RSAPublicKey);
  const bits = bitLength(new Uint8Array(rsa.modulus));
  if (bits < RSA_POLICY.minBits)
    return refused(`weak key: RSA-${bits} is below the minimum of ${RSA_POLICY.minBits} bits`);
  if (bits > RSA_POLICY.maxBits) return refused(`RSA-${bits} is above the maximum of ${RSA_POLICY.maxBits} bits`);
  const e = new Uint8Array(rsa.publicExponent);
  const eLow = e[e.length - 1] ?? 0;
  if ((eLow & 1) === 0 || (bitLength(e) <= 2 && eLow < 3)) return refused("RSA key with an invalid public exponent");
  return { ok: true, family: "RSA", keyType: `rsa-${bits}`, bits };
}

function bitLength(bigEndian: Uint8Array): number {
  let i = 0;
  while (i < bigEndian.length && bigEndian[i] === 0) i++;
  if (i === bigEndian.length) return 0;
  return (bigEndian.length - i - 1) * 8 + (32 - Math.clz32(bigEndian[i] ?? 0));
}
