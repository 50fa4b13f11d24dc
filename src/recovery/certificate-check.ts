/**
 * Is this certificate one of our CA's active client certificates that a share or a record can be sealed to? Asked
 * where a certificate decides who can read: each custodian at `recovery init`, and the recovery certificate before
 * the server seals to it or names it in GET /v1/me. A file or a registry row proves nothing on its own, so this is
 * the server's registry rule (policy/registry-certificate.ts: our chain by signature, the client profile with a key
 * the envelope seals to, serial, fingerprint and CN equal to the row's, within validity), plus the row's own word:
 * in the registry under its serial, active, a client certificate.
 */
import { X509Certificate as NodeCertificate, createHash } from "node:crypto";
import { CertificateRefusedError } from "../errors/index.js";
import {
  type CaAnchors,
  NOT_OURS,
  anchorsFromPem,
  certificateFacts,
  judge,
  pemToDer,
} from "../policy/registry-certificate.js";
import type { CertificateRecord } from "../store/certificates.js";

export { CertificateRefusedError };

export interface CheckContext {
  /** Our CA as loaded from HOME/ca (root.crt, intermediate.crt). */
  ca: { rootPem: string; intermediatePem: string };
  /** The registry's row for a serial, or null. */
  lookup(serial: string): Promise<CertificateRecord | null>;
  now: Date;
}

export interface CheckedCertificate {
  pem: string;
  identity: string;
  serial: string;
  /** SHA-256 of the DER, lower-case hex. */
  fingerprint: string;
  /** SHA-256 of the SubjectPublicKeyInfo: two certificates of one key are one holder. */
  keyId: string;
  notAfter: Date;
}

const NOT_CHAINED = "it does not chain to this CA (signed by our intermediate and root)";
const refuse = (why: string): never => {
  throw new CertificateRefusedError(why);
};

/** Our CA from HOME/ca; an intermediate our root did not sign makes every certificate "not ours". */
function ourAnchors(ca: CheckContext["ca"]): CaAnchors {
  try {
    return anchorsFromPem(ca.rootPem, ca.intermediatePem);
  } catch {
    return refuse(NOT_CHAINED);
  }
}

/** A sentence for a refusal of the shared rule (the reason never holds key material). */
function refusal(problem: { kind: string; reason: string }): string {
  if (problem.reason === NOT_OURS) return NOT_CHAINED;
  if (problem.kind === "unsealable") return `its key cannot be sealed to: ${problem.reason}`;
  if (problem.kind === "expired") return "it is outside its validity period";
  return `it is not one of this CA's client certificates: ${problem.reason}`;
}

/** The registry's word on it: same serial and fingerprint, same identity, active now. */
async function checkRegistry(serial: string, fingerprint: string, ctx: CheckContext): Promise<CertificateRecord> {
  const row = await ctx.lookup(serial);
  if (!row || row.fingerprintSha256 !== fingerprint)
    return refuse(`it is not in this CA's registry (serial ${serial})`);
  if (row.storedStatus !== "active")
    refuse(`it is revoked (serial ${serial}${row.revocationReason ? `, ${row.revocationReason}` : ""})`);
  if (row.notAfter.getTime() < ctx.now.getTime()) refuse(`it has expired (serial ${serial})`);
  if (row.profile !== "client") refuse(`the registry holds serial ${serial} as another identity or profile`);
  return row;
}

/** The checked certificate, or a CertificateRefusedError naming the first problem found. */
export async function checkOurCertificate(pem: string, ctx: CheckContext): Promise<CheckedCertificate> {
  // Exactly one PEM block: a bundle would have the first certificate checked and maybe another one used.
  const der = pemToDer(pem);
  if (!der) return refuse("it is not exactly one PEM certificate");
  const anchors = ourAnchors(ctx.ca);
  const facts = certificateFacts(der, anchors);
  if (facts.problem) refuse(refusal(facts.problem));
  const row = await checkRegistry(facts.serial, facts.fingerprint, ctx);
  const verdict = judge(facts, row, anchors, ctx.now);
  if (!verdict.ok)
    refuse(
      verdict.kind === "hostile"
        ? `the registry holds serial ${facts.serial} as another identity or profile (${verdict.reason})`
        : refusal(verdict),
    );
  const keyId = createHash("sha256")
    .update(new NodeCertificate(der).publicKey.export({ type: "spki", format: "der" }))
    .digest("hex");
  return {
    pem,
    identity: row.identity,
    serial: facts.serial,
    fingerprint: facts.fingerprint,
    keyId,
    notAfter: row.notAfter,
  };
}
