/**
 * Verifying, on the client, every certificate the SDK will seal to: it must chain to the pinned root through an
 * issuing CA, be within validity, be a client certificate (CA:FALSE, EKU clientAuth) whose key usage allows
 * sealing (keyAgreement for EC, keyEncipherment for RSA), and belong to the expected identity. @peculiar/x509's
 * chain builder checks signatures only, so everything else is checked here.
 */
import { x509 } from "../keys/x509.js";
import { UntrustedCertificateError } from "./errors.js";

export interface TrustAnchors {
  root: x509.X509Certificate;
  /** Issuing CAs learnt from ca.pem or from the server's verified TLS chain. */
  intermediates: x509.X509Certificate[];
}

export function parsePemBundle(pem: string): x509.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new x509.X509Certificate(b));
}

/** ca.pem: the root (self-signed) first or anywhere, optionally with the intermediate beside it. */
export function anchorsFromPem(pem: string): TrustAnchors {
  const certs = parsePemBundle(pem);
  const root = certs.find((c) => c.subject === c.issuer);
  if (!root) throw new UntrustedCertificateError("ca.pem holds no root (self-signed) certificate");
  return { root, intermediates: certs.filter((c) => c !== root) };
}

function within(c: x509.X509Certificate, now: Date): boolean {
  return c.notBefore.getTime() <= now.getTime() && now.getTime() <= c.notAfter.getTime();
}

async function issuedBy(child: x509.X509Certificate, parent: x509.X509Certificate): Promise<boolean> {
  if (child.issuer !== parent.subject) return false;
  try {
    return await child.verify({ publicKey: parent.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

function isCa(c: x509.X509Certificate): boolean {
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  return Boolean(bc?.ca);
}

export async function verifyRecipient(pem: string, anchors: TrustAnchors, expectedIdentity: string, now = new Date()): Promise<x509.X509Certificate> {
  let leaf: x509.X509Certificate;
  try {
    leaf = new x509.X509Certificate(pem);
  } catch {
    throw new UntrustedCertificateError("the server listed a certificate that does not parse");
  }
  let issuer: x509.X509Certificate | undefined;
  for (const candidate of anchors.intermediates) {
    if (isCa(candidate) && within(candidate, now) && (await issuedBy(leaf, candidate)) && (await issuedBy(candidate, anchors.root))) {
      issuer = candidate;
      break;
    }
  }
  if (!issuer) throw new UntrustedCertificateError(`certificate ${leaf.serialNumber} does not chain to the pinned CA`);
  if (!within(leaf, now)) throw new UntrustedCertificateError(`certificate ${leaf.serialNumber} is outside its validity period`);
  if (isCa(leaf)) throw new UntrustedCertificateError(`certificate ${leaf.serialNumber} is a CA certificate`);
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.includes(x509.ExtendedKeyUsage.clientAuth)) throw new UntrustedCertificateError(`certificate ${leaf.serialNumber} is not a client certificate`);
  const ku = leaf.getExtension(x509.KeyUsagesExtension);
  const rsa = leaf.publicKey.algorithm.name.startsWith("RSA");
  const needed = rsa ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement;
  if (!ku || (ku.usages & needed) === 0) throw new UntrustedCertificateError(`certificate ${leaf.serialNumber} may not be used to seal records`);
  const cn = leaf.subjectName.getField("CN");
  if (cn.length !== 1 || cn[0] !== expectedIdentity) throw new UntrustedCertificateError(`certificate ${leaf.serialNumber} belongs to another identity`);
  return leaf;
}
