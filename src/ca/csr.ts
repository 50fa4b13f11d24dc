/**
 * Reading and vetting a certificate signing request before anything is issued: it must parse, carry a key of an
 * accepted type and strength, be signed by that key (proof of possession) with an accepted hash, and name a usable
 * common name. Every refusal is a CsrRejectedError with a reason a person can act on.
 */
import { x509 } from "../x509/x509.js";
import { CSR_SIGNATURE_HASHES, type KeyVerdict, judgeSpki } from "../policy/keys.js";
import { CsrRejectedError } from "../errors/index.js";
import { identityProblem } from "./profiles.js";
import type { KeyFamily } from "./profiles.js";

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

/** The CSR's key against the one key table (policy/keys.ts); never throws anything but a CsrRejectedError. */
function readKeyFamily(csr: x509.Pkcs10CertificateRequest): { family: KeyFamily; keyType: string } {
  let verdict: KeyVerdict;
  try {
    verdict = judgeSpki(csr.publicKey.rawData);
  } catch (err) {
    throw new CsrRejectedError("the CSR's public key cannot be read", { cause: err });
  }
  if (!verdict.ok) throw new CsrRejectedError(verdict.reason);
  return { family: verdict.family, keyType: verdict.keyType };
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
  if (!hash || !CSR_SIGNATURE_HASHES.has(hash))
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
