/**
 * Is this registry row one of our CA's client certificates, telling the truth, usable now? One rule for the server
 * (server/revocation/registry-vetting.ts: before it seals to a certificate, lists it in GET /v1/me or the directory, or uses it
 * for a recipient or grant check) and for recovery (recovery/certificate-check.ts: each custodian, and the recovery
 * certificate). Registry rows and files are not trusted: a database writer can insert or edit any row, anyone who can
 * write HOME/ca could plant a file. So the certificate is checked against the CA this process loaded from HOME/ca:
 * signed by our intermediate (itself signed by our root), serial and SHA-256 fingerprint equal to the row's columns,
 * exactly one subject CN equal to the row's identity, the client profile (policy/client-certificate.ts: CA:FALSE,
 * EKU clientAuth, a key of the table, the key usage sealing needs), within its own and the intermediate's validity.
 * A genuine certificate whose key is not in the table (issued before a key type was dropped) is "unsealable" rather
 * than hostile. Revocation and the row's status are the caller's filter (the revoked set, the recovery's lookup).
 *
 * vetRegistryCertificate() is pure; RegistryVetting caches the parse per SHA-256 fingerprint of the DER.
 */
import { X509Certificate as NodeCertificate, createHash } from "node:crypto";
import { x509 } from "../x509/x509.js";
import { normalizeSerial } from "../ca/serial.js";
import { clientProfileProblem, validityProblem } from "./client-certificate.js";
import type { CertificateRecord } from "../store/certificates.js";

/** The CA this server belongs to, as read from HOME/ca (root.crt, intermediate.crt). */
export interface CaAnchors {
  root: NodeCertificate;
  intermediate: NodeCertificate;
  /** The intermediate's validity (ms): nothing it signed is usable outside it. */
  validFrom: number;
  validTo: number;
}

export type RegistryRow = Pick<CertificateRecord, "serial" | "identity" | "fingerprintSha256" | "pem">;

/** ok: usable until `notAfter`; hostile: the row lies (log and audit); unsealable: a genuine certificate the envelope cannot use. */
export type Verdict =
  | { ok: true; notBefore: number; notAfter: number }
  | { ok: false; kind: "hostile" | "unsealable" | "expired"; reason: string };

/** What a certificate says about itself, and whether our CA signed it: the expensive part, cached per fingerprint. */
export interface CertificateFacts {
  fingerprint: string;
  problem?: { kind: "hostile" | "unsealable"; reason: string };
  serial: string;
  commonNames: string[];
  notBefore: number;
  notAfter: number;
}

/** The reason given when the certificate was not signed by our intermediate. */
export const NOT_OURS = "not issued by this CA";

const PEM = /^\s*-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\s*$/;

/** Exactly one PEM block and nothing else: the DER checked here is the DER the envelope and the SDK will read. */
export function pemToDer(pem: string): Uint8Array<ArrayBuffer> | undefined {
  const m = PEM.exec(pem);
  const body = m?.[1]?.replace(/\r?\n/g, "");
  if (!body) return undefined;
  const der = Buffer.from(body, "base64");
  return der.toString("base64") === body ? new Uint8Array(der) : undefined;
}

export const fingerprintOfDer = (der: Uint8Array): string => createHash("sha256").update(der).digest("hex");

/** Signed by our intermediate (whose own signature by our root is checked once, in anchorsFromPem). */
function issuedByUs(cert: NodeCertificate, ca: CaAnchors): boolean {
  try {
    return cert.checkIssued(ca.intermediate) && cert.verify(ca.intermediate.publicKey);
  } catch {
    return false;
  }
}

/** Parses and checks what does not depend on the row or the clock. Never throws. */
export function certificateFacts(der: Uint8Array<ArrayBuffer>, ca: CaAnchors): CertificateFacts {
  const fingerprint = fingerprintOfDer(der);
  const base = { fingerprint, serial: "", commonNames: [], notBefore: 0, notAfter: 0 };
  let node: NodeCertificate;
  let parsed: x509.X509Certificate;
  try {
    node = new NodeCertificate(der);
    parsed = new x509.X509Certificate(der);
  } catch {
    return { ...base, problem: { kind: "hostile", reason: "the certificate does not parse" } };
  }
  const facts: CertificateFacts = {
    fingerprint,
    serial: normalizeSerial(node.serialNumber),
    commonNames: parsed.subjectName.getField("CN"),
    notBefore: parsed.notBefore.getTime(),
    notAfter: parsed.notAfter.getTime(),
  };
  if (!issuedByUs(node, ca)) return { ...facts, problem: { kind: "hostile", reason: NOT_OURS } };
  const problem = clientProfileProblem(parsed);
  if (!problem) return facts;
  return {
    ...facts,
    problem: { kind: problem.code === "key_type" ? "unsealable" : "hostile", reason: problem.reason },
  };
}

/** The cheap part: the row's columns against the facts, and the clock. */
export function judge(facts: CertificateFacts, row: RegistryRow, ca: CaAnchors, now: Date): Verdict {
  if (facts.problem?.kind === "hostile") return { ok: false, ...facts.problem };
  if (facts.fingerprint !== row.fingerprintSha256)
    return { ok: false, kind: "hostile", reason: "fingerprint differs from the registry row" };
  if (facts.serial !== row.serial)
    return { ok: false, kind: "hostile", reason: "serial differs from the registry row" };
  if (facts.commonNames.length !== 1 || facts.commonNames[0] !== row.identity)
    return { ok: false, kind: "hostile", reason: "subject CN differs from the row's identity" };
  if (facts.problem) return { ok: false, ...facts.problem };
  if (validityProblem({ notBefore: ca.validFrom, notAfter: ca.validTo }, now) || validityProblem(facts, now))
    return { ok: false, kind: "expired", reason: "outside its validity period" };
  return { ok: true, notBefore: facts.notBefore, notAfter: facts.notAfter };
}

/** The whole check, as a pure function of the row (its certificate), the CA and the time. */
export function vetRegistryCertificate(row: RegistryRow, ca: CaAnchors, now: Date): Verdict {
  const der = pemToDer(row.pem);
  if (!der) return { ok: false, kind: "hostile", reason: "the row's PEM is not exactly one certificate" };
  return judge(certificateFacts(der, ca), row, ca, now);
}

/** Our CA from its PEM files; refuses an intermediate that our root did not sign (nothing could be vetted then). */
export function anchorsFromPem(rootPem: string, intermediatePem: string): CaAnchors {
  const root = new NodeCertificate(rootPem);
  const intermediate = new NodeCertificate(intermediatePem);
  if (!intermediate.ca || !intermediate.checkIssued(root) || !intermediate.verify(root.publicKey)) {
    throw new Error("the intermediate CA certificate is not signed by the root");
  }
  const validFrom = Date.parse(intermediate.validFrom);
  const validTo = Date.parse(intermediate.validTo);
  if (Number.isNaN(validFrom) || Number.isNaN(validTo))
    throw new Error("the intermediate CA certificate's validity cannot be read");
  return { root, intermediate, validFrom, validTo };
}
