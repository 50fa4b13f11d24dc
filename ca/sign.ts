/**
 * Turns a CertificateShape (pure profile) into a signed X.509 certificate. Everything that signs goes through a
 * Signer, so that a key in a file and a key in a token (PKCS#11) are two implementations of one thing.
 */
import type { KeyObject } from "node:crypto";
import { nodeCrypto, x509 } from "../keys/x509.js";

import type { CertificateShape, KeyUsageName } from "./profiles.js";


export interface Signer {
  /** The WebCrypto key that signs; for hardware tokens a non-extractable handle. */
  readonly signingKey: CryptoKey;
  readonly signingAlgorithm: Algorithm | EcdsaParams;
  readonly certificate: x509.X509Certificate;
  /** The WebCrypto provider that holds `signingKey` (a PKCS#11 token's); Node's own when absent. */
  readonly crypto?: Crypto;
  /** Releases what the signer holds (a token session); nothing for file keys. */
  close?(): Promise<void>;
}

/**
 * Signs bytes rather than certificates: the audit checkpoints. Same two homes as a Signer's key (a file, or a key
 * inside the CA's PKCS#11 token, ca/pkcs11.ts), one contract: ECDSA P-256 with SHA-256, the signature DER-encoded
 * (ECDSA-Sig-Value) exactly as Node's `crypto.sign` makes it, so one verifier checks both.
 */
export interface DataSigner {
  /** The public half, as a Node key (what verifies the signatures, and what HOME/audit/audit.pub holds). */
  readonly publicKey: KeyObject;
  sign(data: Uint8Array): Promise<Buffer>;
  /** Releases what the signer holds (its share of a token session); nothing for file keys. */
  close?(): Promise<void>;
}

const KU_FLAGS: Record<KeyUsageName, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
};
const EKU_OIDS = { clientAuth: x509.ExtendedKeyUsage.clientAuth, serverAuth: x509.ExtendedKeyUsage.serverAuth } as const;

export async function shapeExtensions(shape: CertificateShape, subjectKey: x509.PublicKey | CryptoKey, issuer: x509.X509Certificate | x509.PublicKey | CryptoKey): Promise<x509.Extension[]> {
  const ext: x509.Extension[] = [];
  ext.push(shape.ca ? new x509.BasicConstraintsExtension(true, shape.ca.pathLength, true) : new x509.BasicConstraintsExtension(false, undefined, true));
  const flags = shape.keyUsage.reduce((acc, u) => acc | KU_FLAGS[u], 0);
  ext.push(new x509.KeyUsagesExtension(flags, true));
  if (shape.extendedKeyUsage.length > 0) {
    ext.push(new x509.ExtendedKeyUsageExtension(shape.extendedKeyUsage.map((e) => EKU_OIDS[e]), false));
  }
  const names = [...shape.sans.dns.map((value) => ({ type: "dns" as const, value })), ...shape.sans.ip.map((value) => ({ type: "ip" as const, value }))];
  if (names.length > 0) ext.push(new x509.SubjectAlternativeNameExtension(names, false));
  if (shape.crlUrls && shape.crlUrls.length > 0) ext.push(new x509.CRLDistributionPointsExtension(shape.crlUrls, false));
  ext.push(await x509.SubjectKeyIdentifierExtension.create(subjectKey as CryptoKey, false, nodeCrypto));
  ext.push(await x509.AuthorityKeyIdentifierExtension.create(issuer as CryptoKey, false, nodeCrypto));
  return ext;
}

export async function signCertificate(params: {
  serial: string;
  /** Prefer an x509.Name (see cnName in authority.ts): a string is parsed as an RFC 4514 DN, "#..." values as hex DER. */
  subject: x509.Name | string;
  shape: CertificateShape;
  publicKey: x509.PublicKey | CryptoKey;
  /** Self-signed: `publicKey` must be the public half of `selfSigned` (in a token: exported as an x509.PublicKey). */
  issuer: Signer | { selfSigned: CryptoKeyPair; signingAlgorithm: Algorithm | EcdsaParams; crypto?: Crypto };
}): Promise<x509.X509Certificate> {
  const { shape, issuer } = params;
  // A token's WebCrypto cannot export Node's keys: hand it the subject key as SPKI (x509.PublicKey) instead.
  const publicKey = issuer.crypto && !(params.publicKey instanceof x509.PublicKey) ? await x509.PublicKey.create(params.publicKey, nodeCrypto) : params.publicKey;
  const self = "selfSigned" in issuer;
  const issuerRef = self ? publicKey : issuer.certificate;
  return x509.X509CertificateGenerator.create({
    serialNumber: params.serial,
    subject: params.subject,
    // The issuer's subject as encoded in its certificate (byte for byte), not re-parsed from its string form.
    issuer: self ? params.subject : issuer.certificate.subjectName,
    notBefore: shape.notBefore,
    notAfter: shape.notAfter,
    publicKey,
    signingKey: self ? issuer.selfSigned.privateKey : issuer.signingKey,
    signingAlgorithm: issuer.signingAlgorithm,
    extensions: await shapeExtensions(shape, publicKey, issuerRef),
  }, issuer.crypto ?? nodeCrypto);
}
