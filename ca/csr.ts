/**
 * Reading and vetting a certificate signing request before anything is issued: it must parse, carry a key of an
 * accepted type and strength, be signed by that key (proof of possession) with an accepted hash, and name a usable
 * common name. Every refusal is a CsrRejectedError with a reason a person can act on.
 */
import { x509 } from "../keys/x509.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { RSAPublicKey } from "@peculiar/asn1-rsa";
import { ECParameters } from "@peculiar/asn1-ecc";
import { CsrRejectedError } from "../errors/index.js";
import { identityProblem } from "./profiles.js";
import type { KeyFamily } from "./profiles.js";

const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_RSA = "1.2.840.113549.1.1.1";
const ACCEPTED_CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
};
const KNOWN_CURVE_NAMES: Record<string, string> = {
  "1.3.132.0.10": "secp256k1",
  "1.2.840.10045.3.1.1": "P-192",
  "1.3.132.0.33": "P-224",
};
const ACCEPTED_SIGNATURE_HASHES = new Set(["SHA-256", "SHA-384", "SHA-512"]);
export const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;
const MAX_CSR_BYTES = 64 * 1024;

export interface VettedCsr {
  csr: x509.Pkcs10CertificateRequest;
  commonName: string;
  family: KeyFamily;
  /** e.g. ec-p256, ec-p384, ec-p521, rsa-2048, rsa-3072 */
  keyType: string;
}

export function parseCsr(input: Uint8Array | string): x509.Pkcs10CertificateRequest {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : Buffer.from(input);
  if (bytes.length === 0) throw new CsrRejectedError("malformed CSR: the input is empty");
  if (bytes.length > MAX_CSR_BYTES) throw new CsrRejectedError("malformed CSR: larger than 64 KiB");
  let der: Buffer;
  let csr: x509.Pkcs10CertificateRequest;
  try {
    const text = bytes.toString("latin1");
    if (text.includes("-----BEGIN")) {
      const m = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (NEW )?CERTIFICATE REQUEST-----/.exec(
        text,
      );
      if (!m || m[2] === undefined) throw new Error("no CERTIFICATE REQUEST block");
      der = Buffer.from(m[2].replace(/\s+/g, ""), "base64");
    } else {
      der = bytes;
    }
    csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
  } catch (err) {
    throw new CsrRejectedError("malformed CSR: not a PKCS#10 certificate request in PEM or DER", { cause: err });
  }
  // The parser ignores bytes after the request's SEQUENCE; malformed input is refused, not trimmed.
  if (derTlvLength(der) !== der.length)
    throw new CsrRejectedError("malformed CSR: extra data after the certificate request");
  return csr;
}

/** Length of the DER TLV at the start of `der` (tag, length octets, content), or -1 when its header is broken. */
function derTlvLength(der: Uint8Array): number {
  if (der.length < 2) return -1;
  const first = der[1] ?? 0;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || der.length < 2 + n) return -1;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (der[2 + i] ?? 0);
  return 2 + n + len;
}

function keyFamily(csr: x509.Pkcs10CertificateRequest): { family: KeyFamily; keyType: string } {
  const spki = AsnConvert.parse(csr.publicKey.rawData, SubjectPublicKeyInfo);
  const alg = spki.algorithm.algorithm;
  if (alg === OID_EC_PUBLIC_KEY) {
    const params = spki.algorithm.parameters;
    // Named curves only: explicit domain parameters (a SEQUENCE instead of an OID) are refused.
    let curveOid: string | undefined;
    try {
      curveOid = params ? AsnConvert.parse(params, ECParameters).namedCurve : undefined;
    } catch {
      curveOid = undefined;
    }
    if (curveOid === undefined)
      throw new CsrRejectedError(
        "EC key with explicit curve parameters: only named curves P-256, P-384, P-521 are accepted",
      );
    const curve = ACCEPTED_CURVES[curveOid];
    if (!curve) {
      const name = KNOWN_CURVE_NAMES[curveOid] ?? curveOid;
      throw new CsrRejectedError(`unsupported EC curve ${name}: only P-256, P-384 and P-521 are accepted`);
    }
    return { family: "EC", keyType: `ec-${curve.toLowerCase().replace("-", "")}` };
  }
  if (alg === OID_RSA) {
    const rsa = AsnConvert.parse(spki.subjectPublicKey, RSAPublicKey);
    const modulus = Buffer.from(rsa.modulus);
    const bits = bitLength(modulus);
    if (bits < MIN_RSA_BITS)
      throw new CsrRejectedError(`weak key: RSA-${bits} is below the minimum of ${MIN_RSA_BITS} bits`);
    if (bits > MAX_RSA_BITS) throw new CsrRejectedError(`RSA-${bits} is above the maximum of ${MAX_RSA_BITS} bits`);
    const e = Buffer.from(rsa.publicExponent);
    const eLow = e[e.length - 1] ?? 0;
    if ((eLow & 1) === 0 || (bitLength(e) <= 2 && eLow < 3))
      throw new CsrRejectedError("RSA key with an invalid public exponent");
    return { family: "RSA", keyType: `rsa-${bits}` };
  }
  throw new CsrRejectedError(
    `unsupported key algorithm ${alg}: only EC (P-256, P-384, P-521) and RSA (>= 2048 bits) keys are accepted`,
  );
}

/** keyFamily, with whatever the ASN.1 layer throws on a damaged key (found by fuzzing) turned into a refusal. */
function readKeyFamily(csr: x509.Pkcs10CertificateRequest): { family: KeyFamily; keyType: string } {
  try {
    return keyFamily(csr);
  } catch (err) {
    if (err instanceof CsrRejectedError) throw err;
    throw new CsrRejectedError("the CSR's public key cannot be read", { cause: err });
  }
}

function bitLength(bigEndian: Buffer): number {
  let i = 0;
  while (i < bigEndian.length && bigEndian[i] === 0) i++;
  if (i === bigEndian.length) return 0;
  return (bigEndian.length - i - 1) * 8 + (32 - Math.clz32(bigEndian[i] ?? 0));
}

function commonNameOf(csr: x509.Pkcs10CertificateRequest): string {
  const cns = csr.subjectName.getField("CN");
  if (cns.length !== 1 || cns[0] === undefined)
    throw new CsrRejectedError("the CSR subject must contain exactly one CN (the identity)");
  const cn = cns[0];
  const problem = identityProblem(cn);
  if (problem) throw new CsrRejectedError(`CN: ${problem}`);
  return cn;
}

export async function vetCsr(input: Uint8Array | string): Promise<VettedCsr> {
  const csr = parseCsr(input);
  const { family, keyType } = readKeyFamily(csr);
  const hash = (csr.signatureAlgorithm as { hash?: { name?: string } }).hash?.name;
  if (!hash || !ACCEPTED_SIGNATURE_HASHES.has(hash))
    throw new CsrRejectedError(`the CSR is signed with an unaccepted algorithm (${hash ?? "unknown"})`);
  let ok: boolean;
  try {
    ok = await csr.verify();
  } catch (err) {
    throw new CsrRejectedError("the CSR signature could not be verified", { cause: err });
  }
  if (!ok) throw new CsrRejectedError("the CSR signature does not verify (no proof of possession of the private key)");
  return { csr, commonName: commonNameOf(csr), family, keyType };
}
