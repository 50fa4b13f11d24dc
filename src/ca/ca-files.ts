/**
 * The CA on disk: HOME/ca/{root,intermediate}.{crt,key}. Certificates are PEM; keys are encrypted PKCS#8 (0600).
 * Loading a signer decrypts the intermediate key into a non-extractable WebCrypto key held only in memory.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { x509 } from "../x509/x509.js";
import { CaMissingError } from "../errors/index.js";
import { decryptPrivateKey, toSigningCryptoKey } from "../keys/encrypted-pkcs8.js";
import { keyTypeSpec } from "../keys/key-types.js";
import type { KeyType } from "../keys/key-types.js";
import type { Signer } from "./sign.js";
import { judgeSpki } from "../policy/keys.js";

export interface CaPaths {
  dir: string;
  rootCert: string;
  rootKey: string;
  intermediateCert: string;
  intermediateKey: string;
  /** The root's CRL over its intermediates (an ARL), made at init; TLS stacks that check the whole chain need it. */
  rootCrl: string;
  /** Dev mode only: the CA passphrase kept beside the keys (never in production). */
  devPassphrase: string;
}

export function caPaths(home: string): CaPaths {
  const dir = join(home, "ca");
  return {
    dir,
    rootCert: join(dir, "root.crt"),
    rootKey: join(dir, "root.key"),
    intermediateCert: join(dir, "intermediate.crt"),
    intermediateKey: join(dir, "intermediate.key"),
    rootCrl: join(dir, "root.crl"),
    devPassphrase: join(dir, "passphrase"),
  };
}

export function caExists(paths: CaPaths): boolean {
  // pkcs11.json: the keys of this CA are in a PKCS#11 token (ca/pkcs11.ts).
  return [
    paths.rootCert,
    paths.rootKey,
    paths.intermediateCert,
    paths.intermediateKey,
    join(paths.dir, "pkcs11.json"),
  ].some((p) => existsSync(p));
}

export function ensureCaDir(paths: CaPaths): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
}

export interface CaCertificates {
  root: x509.X509Certificate;
  intermediate: x509.X509Certificate;
  rootPem: string;
  intermediatePem: string;
  /** PEM, when HOME/ca/root.crl exists (CAs made before it was introduced lack it). */
  rootCrlPem?: string;
}

export function readCaCertificates(paths: CaPaths): CaCertificates {
  if (!existsSync(paths.rootCert) || !existsSync(paths.intermediateCert)) {
    throw new CaMissingError(`no CA in ${paths.dir}: run "certvault ca init" first`);
  }
  const rootPem = readFileSync(paths.rootCert, "utf8");
  const intermediatePem = readFileSync(paths.intermediateCert, "utf8");
  const rootCrlPem = existsSync(paths.rootCrl) ? readFileSync(paths.rootCrl, "utf8") : undefined;
  return {
    root: new x509.X509Certificate(rootPem),
    intermediate: new x509.X509Certificate(intermediatePem),
    rootPem,
    intermediatePem,
    ...(rootCrlPem === undefined ? {} : { rootCrlPem }),
  };
}

/**
 * The key type of a CA certificate, from the key table (policy/keys.ts): the CA signs with the algorithm that fits
 * its key (ECDSA with the curve's hash; RSA with PKCS#1 v1.5 SHA-256, whatever its size).
 */
export function caKeyType(cert: x509.X509Certificate): KeyType {
  const key = judgeSpki(cert.publicKey.rawData);
  if (!key.ok) throw new CaMissingError(`the CA certificate's key is not one certvault uses: ${key.reason}`);
  return key.family === "EC" ? (key.curve.keyType as KeyType) : "rsa-3072";
}

/** Decrypts the intermediate key and returns the signer that issues certificates and CRLs. */
export async function loadIntermediateSigner(paths: CaPaths, passphrase: string): Promise<Signer> {
  const { intermediate } = readCaCertificates(paths);
  const keyType = caKeyType(intermediate);
  if (!existsSync(paths.intermediateKey) && existsSync(join(paths.dir, "pkcs11.json"))) {
    throw new CaMissingError(`the keys of the CA in ${paths.dir} are in a PKCS#11 token (pkcs11.json), not in files`);
  }
  const keyObject = decryptPrivateKey(readFileSync(paths.intermediateKey, "utf8"), passphrase);
  const spec = keyTypeSpec(keyType);
  return {
    signingKey: await toSigningCryptoKey(keyObject, spec.keyAlgorithm),
    signingAlgorithm: spec.signingAlgorithm as Algorithm,
    certificate: intermediate,
  };
}
