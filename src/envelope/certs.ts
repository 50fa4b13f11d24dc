/**
 * Recipient certificates: parsed, checked and imported once, then served from a bounded cache keyed by the SHA-256
 * of their DER, because a server seals to the same few certificates over and over. Only what the envelope needs is
 * kept. No validity, chain or revocation checks happen here: that is the caller's (the CA's, the server's) business.
 */
import { ECDH, createHash, createPublicKey, type KeyObject } from "node:crypto";
import { AsnParser } from "@peculiar/asn1-schema";
import {
  Certificate,
  KeyUsage,
  SubjectKeyIdentifier,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { type Curve, CURVES } from "./algorithms.js";
import { SEALING_USAGE, judgeSpki, keyUsageAllowsSealing } from "../policy/keys.js";
import { DerReader, TAG, integerContent, tlv } from "./der.js";
import { InvalidCertificateError, KeyUsageError, UnsupportedKeyError } from "./errors.js";

/** A certificate as PEM text, or DER bytes (bytes that start with "-----BEGIN" are read as PEM). */
export type CertificateInput = string | Uint8Array;

export interface RecipientCert {
  readonly der: Uint8Array;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprint: string;
  readonly kind: "ec" | "rsa";
  readonly publicKey: KeyObject;
  /** EC only: the curve and the uncompressed point. */
  readonly curve?: Curve;
  readonly point?: Uint8Array;
  /** DER of the issuer Name, exactly as in the certificate. */
  readonly issuer: Uint8Array;
  /** Content octets of the serialNumber INTEGER. */
  readonly serial: Uint8Array;
  /** DER of IssuerAndSerialNumber, ready to be used as a rid. */
  readonly issuerAndSerial: Uint8Array;
  readonly subjectKeyIdentifier?: Uint8Array;
  /** KeyUsageFlags bits, or undefined when the certificate has no KeyUsage extension. */
  readonly keyUsage?: number;
}

const MAX_CERT_BYTES = 64 * 1024;
const CACHE_SIZE = 256;
const BER_LIMITS = { maxDepth: 32, maxNodes: 5000, maxContentLength: MAX_CERT_BYTES, parseEmbedded: false };
const cache = new Map<string, RecipientCert>();
/** The same certificates by the PEM text they were loaded from (loadCertificate). */
const byPem = new Map<string, RecipientCert>();
const invalid = (m: string) => new InvalidCertificateError(m);

function certificateDer(input: CertificateInput): Uint8Array {
  let text: string | undefined;
  if (typeof input === "string") text = input;
  else if (input instanceof Uint8Array) {
    if (input[0] !== 0x2d) return input;
    text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("utf8");
  } else throw invalid("a certificate must be a PEM string or DER bytes");
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----/g)];
  if (blocks.length !== 1 || text.split("-----BEGIN ").length !== 2) {
    throw invalid("expected exactly one PEM CERTIFICATE block");
  }
  return new Uint8Array(Buffer.from((blocks[0] as RegExpMatchArray)[1] as string, "base64"));
}

/** Parses (or fetches from the cache) a recipient certificate. Refuses keys the envelope cannot use. */
export function loadCertificate(input: CertificateInput): RecipientCert {
  // The same PEM text is the same certificate: the SDK seals every put to the PEMs GET /v1/me lists, and decoding
  // and hashing them again was ~4 % of a 1 KiB put's client CPU (profile, issue 17).
  const known = typeof input === "string" ? byPem.get(input) : undefined;
  if (known) return known;
  const cert = loadDer(certificateDer(input));
  if (typeof input === "string") {
    byPem.set(input, cert);
    if (byPem.size > CACHE_SIZE) byPem.delete(byPem.keys().next().value as string);
  }
  return cert;
}

function loadDer(der: Uint8Array): RecipientCert {
  if (der.length > MAX_CERT_BYTES) throw invalid("certificate too large");
  const fingerprint = createHash("sha256").update(der).digest("hex");
  const hit = cache.get(fingerprint);
  if (hit) {
    cache.delete(fingerprint);
    cache.set(fingerprint, hit);
    return hit;
  }
  const cert = parseCertificate(der, fingerprint);
  cache.set(fingerprint, cert);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return cert;
}

function parseCertificate(input: Uint8Array, fingerprint: string): RecipientCert {
  const der = new Uint8Array(input); // our own copy: cached, so the caller may reuse its buffer
  // Raw issuer and serial octets from the DER itself: matching compares them byte for byte.
  const outer = new DerReader(der, invalid);
  const tbs = outer.enter(TAG.SEQUENCE, "Certificate").enter(TAG.SEQUENCE, "TBSCertificate");
  outer.end("certificate");
  tbs.optional(0xa0, "version");
  const serial = integerContent(tbs.read(TAG.INTEGER, "serialNumber").value, invalid, "serialNumber");
  tbs.read(TAG.SEQUENCE, "signature");
  const issuer = tbs.read(TAG.SEQUENCE, "issuer").raw;
  tbs.read(TAG.SEQUENCE, "validity");
  tbs.read(TAG.SEQUENCE, "subject");
  const spki = tbs.read(TAG.SEQUENCE, "subjectPublicKeyInfo").raw;

  let parsed: Certificate;
  try {
    parsed = AsnParser.parse(der, Certificate, { berOptions: BER_LIMITS });
  } catch (cause) {
    throw new InvalidCertificateError("certificate cannot be parsed", { cause });
  }
  let keyUsage: number | undefined;
  let subjectKeyIdentifier: Uint8Array | undefined;
  try {
    for (const ext of parsed.tbsCertificate.extensions ?? []) {
      if (ext.extnID === id_ce_keyUsage) {
        keyUsage = AsnParser.parse(ext.extnValue, KeyUsage, { berOptions: BER_LIMITS }).toNumber();
      } else if (ext.extnID === id_ce_subjectKeyIdentifier) {
        const ski = AsnParser.parse(ext.extnValue, SubjectKeyIdentifier, { berOptions: BER_LIMITS });
        subjectKeyIdentifier = new Uint8Array(ski.buffer.slice(0));
      }
    }
  } catch (cause) {
    throw new InvalidCertificateError("certificate extension cannot be parsed", { cause });
  }
  const key = importKey(spki);
  return {
    der,
    fingerprint,
    ...key,
    issuer,
    serial,
    issuerAndSerial: tlv(TAG.SEQUENCE, issuer, tlv(TAG.INTEGER, serial)),
    ...(subjectKeyIdentifier ? { subjectKeyIdentifier } : {}),
    ...(keyUsage !== undefined ? { keyUsage } : {}),
  };
}

/** The key, judged by the one key table (policy/keys.ts): what the CA certifies and the server admits is sealable. */
function importKey(spki: Uint8Array): Pick<RecipientCert, "kind" | "publicKey" | "curve" | "point"> {
  const verdict = judgeSpki(spki);
  if (!verdict.ok) throw new UnsupportedKeyError(verdict.reason);
  const publicKey = publicKeyFrom(spki); // node checks an EC point is on the curve
  if (verdict.family === "RSA") return { kind: "rsa", publicKey };
  const curve = CURVES.find((c) => c.oid === verdict.curve.oid) as Curve;
  const r = new DerReader(spki, invalid).enter(TAG.SEQUENCE, "subjectPublicKeyInfo");
  r.read(TAG.SEQUENCE, "algorithm");
  const encoded = r.readBitStringOctets("subjectPublicKey");
  // Uncompressed, as the KARI's ECDH wants it; never via JWK export (see kari.ts).
  const point =
    encoded[0] === 4
      ? new Uint8Array(encoded)
      : new Uint8Array(ECDH.convertKey(encoded, curve.nodeName, undefined, undefined, "uncompressed") as Buffer);
  if (point.length !== 1 + 2 * curve.coordinateBytes) throw invalid("EC public key has the wrong size");
  return { kind: "ec", publicKey, curve, point };
}

function publicKeyFrom(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch (cause) {
    throw new InvalidCertificateError("certificate public key is invalid", { cause });
  }
}

/**
 * RFC 5280 4.2.1.3 (policy/keys.ts keyUsageAllowsSealing): when KeyUsage is present, EC recipients need keyAgreement
 * and RSA recipients keyEncipherment. A certificate without the extension is unrestricted and accepted.
 */
export function requireKeyUsage(cert: RecipientCert): void {
  const family = cert.kind === "ec" ? "EC" : "RSA";
  if (!keyUsageAllowsSealing(cert.keyUsage, family))
    throw new KeyUsageError(`the certificate's KeyUsage does not allow ${SEALING_USAGE[family]}`);
}
