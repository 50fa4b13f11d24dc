/**
 * Is this certificate one of our CA's active client certificates that a share or a record can be sealed to? Asked
 * where a certificate decides who can read: each custodian at `recovery init`, and the recovery certificate before
 * the server seals to it or names it in GET /v1/me. A file or a registry row proves nothing on its own (anyone who
 * can write HOME/ca or the database could plant one), so the certificate is checked against the CA itself:
 *
 * - signed by our intermediate, itself signed by our root (signatures checked, not names);
 * - within its validity, CA:FALSE, EKU clientAuth, the key usage sealing needs (keyAgreement for EC, keyEncipherment
 *   for RSA), and a key the envelope can seal to (P-256, P-384, RSA 2048..8192);
 * - in the registry under its serial with the same SHA-256 fingerprint, active (neither revoked nor expired), the
 *   row's identity equal to the certificate's one CN.
 */
import { X509Certificate as NodeCertificate, createHash } from "node:crypto";
import { x509 } from "../keys/x509.js";
import { CertificateRefusedError } from "../errors/index.js";
import { normalizeSerial } from "../ca/serial.js";
import { loadCertificate } from "../envelope/certs.js";
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

const refuse = (why: string): never => {
  throw new CertificateRefusedError(why);
};

function issuedBy(child: NodeCertificate, parent: NodeCertificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function within(c: { notBefore: Date; notAfter: Date }, now: Date): boolean {
  return c.notBefore.getTime() <= now.getTime() && now.getTime() <= c.notAfter.getTime();
}

/** Chain by signature: leaf <- our intermediate <- our root (the intermediate itself within validity). */
function checkChain(leaf: NodeCertificate, ctx: CheckContext): void {
  const root = new NodeCertificate(ctx.ca.rootPem);
  const intermediate = new NodeCertificate(ctx.ca.intermediatePem);
  const intValid = within(
    { notBefore: new Date(intermediate.validFrom), notAfter: new Date(intermediate.validTo) },
    ctx.now,
  );
  if (!issuedBy(leaf, intermediate) || !issuedBy(intermediate, root) || !intValid)
    refuse("it does not chain to this CA (signed by our intermediate and root)");
}

/** The client profile, as the envelope needs it. */
function checkShape(cert: x509.X509Certificate, pem: string, now: Date): void {
  if (!within(cert, now)) refuse("it is outside its validity period");
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca) refuse("it is a CA certificate");
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.includes(x509.ExtendedKeyUsage.clientAuth))
    refuse("it is not a client certificate (EKU clientAuth)");
  let kind: "ec" | "rsa" = "ec";
  try {
    kind = loadCertificate(pem).kind;
  } catch (err) {
    refuse(`its key cannot be sealed to: ${(err as Error).message}`);
  }
  const needed = kind === "rsa" ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement;
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku || (ku.usages & needed) === 0)
    refuse(`its key usage does not allow ${kind === "rsa" ? "keyEncipherment" : "keyAgreement"}`);
}

/** The registry's word on it: same serial and fingerprint, same identity, active now. */
async function checkRegistry(
  serial: string,
  fingerprint: string,
  cn: string,
  ctx: CheckContext,
): Promise<CertificateRecord> {
  const row = await ctx.lookup(serial);
  if (!row || row.fingerprintSha256 !== fingerprint)
    return refuse(`it is not in this CA's registry (serial ${serial})`);
  if (row.storedStatus !== "active")
    refuse(`it is revoked (serial ${serial}${row.revocationReason ? `, ${row.revocationReason}` : ""})`);
  if (row.notAfter.getTime() < ctx.now.getTime()) refuse(`it has expired (serial ${serial})`);
  if (row.identity !== cn || row.profile !== "client")
    refuse(`the registry holds serial ${serial} as another identity or profile`);
  return row;
}

/** The checked certificate, or a CertificateRefusedError naming the first problem found. */
export async function checkOurCertificate(pem: string, ctx: CheckContext): Promise<CheckedCertificate> {
  // One block only: a bundle would have the first certificate checked and maybe another one used.
  if ((pem.match(/-----BEGIN /g) ?? []).length !== 1) refuse("it is not exactly one PEM certificate");
  let node: NodeCertificate;
  let cert: x509.X509Certificate;
  try {
    node = new NodeCertificate(pem);
    cert = new x509.X509Certificate(pem);
  } catch {
    return refuse("it is not a PEM certificate that parses");
  }
  checkChain(node, ctx);
  checkShape(cert, pem, ctx.now);
  const cns = cert.subjectName.getField("CN");
  if (cns.length !== 1 || !cns[0]) refuse("its subject does not hold exactly one CN");
  const der = new Uint8Array(node.raw);
  const fingerprint = createHash("sha256").update(der).digest("hex");
  const serial = normalizeSerial(node.serialNumber);
  const row = await checkRegistry(serial, fingerprint, cns[0] as string, ctx);
  const keyId = createHash("sha256")
    .update(node.publicKey.export({ type: "spki", format: "der" }))
    .digest("hex");
  return { pem, identity: row.identity, serial, fingerprint, keyId, notAfter: row.notAfter };
}
