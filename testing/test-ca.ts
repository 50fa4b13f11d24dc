/**
 * Throwaway CAs for tests: a real certvault CA (same code as `certvault ca init`) in a temp dir, with helpers to issue
 * client and server certificates, including deliberately broken ones for negative tests. The broken variants are
 * built here, from the same signing code, and are reachable from nowhere but this kit.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { CertificateAuthority, cnName, fingerprintOf, initCa } from "../ca/authority.js";
import { caPaths, loadIntermediateSigner } from "../ca/ca-files.js";
import type { CaPaths } from "../ca/ca-files.js";
import { leafShape } from "../ca/profiles.js";
import type { CertificateShape, KeyFamily } from "../ca/profiles.js";
import { randomSerial } from "../ca/serial.js";
import { signCertificate } from "../ca/sign.js";
import type { Signer } from "../ca/sign.js";
import { toPem } from "../keys/pem.js";
import type { KeyType } from "../keys/key-types.js";
import { openDatabase } from "../store/db.js";
import type { Db } from "../store/db.js";
import { CertificateRepository } from "../store/certificates.js";
import { testKeyPair } from "./key-cache.js";

export const TEST_PASSPHRASE = "certvault test passphrase";

export interface IssueOptions {
  keyType?: KeyType | "rsa-2048" | "rsa-1024";
  days?: number;
  /** Broken on purpose: */
  noEku?: boolean;
  eku?: "serverAuth" | "clientAuth";
  caTrue?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Leave it out of the registry, as if another CA with our names had issued it. */
  unregistered?: boolean;
}

export interface TestIdentity {
  name: string;
  serial: string;
  certPem: string;
  /** Unencrypted PKCS#8 PEM: throwaway keys in a temp dir, handy for curl and openssl. */
  keyPem: string;
  privateKey: webcrypto.CryptoKey;
  dir: string;
  certPath: string;
  keyPath: string;
}

export interface TestCA {
  home: string;
  paths: CaPaths;
  db: Db;
  authority: CertificateAuthority;
  passphrase: string;
  passphraseFile: string;
  rootPem: string;
  intermediatePem: string;
  issueClient(name: string, opts?: IssueOptions): Promise<TestIdentity>;
  revoke(serial: string, reason?: string): Promise<void>;
  crlPem(): Promise<string>;
  cleanup(): Promise<void>;
}

function familyOf(keyType: string): KeyFamily {
  return keyType.startsWith("rsa") ? "RSA" : "EC";
}

export async function createTestCA(opts: { keyType?: KeyType; name?: string } = {}): Promise<TestCA> {
  const home = mkdtempSync(join(tmpdir(), "certvault-test-"));
  const paths = caPaths(home);
  const passphraseFile = join(home, "passphrase.txt");
  writeFileSync(passphraseFile, TEST_PASSPHRASE + "\n", { mode: 0o600 });
  const certs = await initCa(paths, { name: opts.name ?? "certvault test", keyType: opts.keyType ?? "ec-p256", passphrase: TEST_PASSPHRASE });
  const db = await openDatabase(join(home, "certvault.db"));
  const registry = new CertificateRepository(db);
  let signer: Promise<Signer> | undefined;
  const getSigner = (): Promise<Signer> => (signer ??= loadIntermediateSigner(paths, TEST_PASSPHRASE));
  const authority = new CertificateAuthority({ paths, registry, signer: getSigner });

  async function issueClient(name: string, o: IssueOptions = {}): Promise<TestIdentity> {
    const keyType = o.keyType ?? "ec-p256";
    const keys = await testKeyPair(keyType);
    const s = await getSigner();
    const now = new Date();
    const shape: CertificateShape = leafShape({ profile: "client", family: familyOf(keyType), days: o.days ?? 30, sans: [], commonName: name, now, issuerNotAfter: s.certificate.notAfter });
    if (o.notBefore) shape.notBefore = o.notBefore;
    if (o.notAfter) shape.notAfter = o.notAfter;
    if (o.noEku) shape.extendedKeyUsage = [];
    if (o.eku) shape.extendedKeyUsage = [o.eku];
    if (o.caTrue) shape.ca = { pathLength: 0 };
    const serial = randomSerial();
    const cert = await signCertificate({ serial, subject: cnName(name), shape, publicKey: keys.publicKey, issuer: s });
    const certPem = cert.toString("pem") + "\n";
    if (!o.unregistered) {
      await registry.insert({ serial, identity: name, subject: cert.subject, profile: "client", keyType, notBefore: cert.notBefore, notAfter: cert.notAfter, fingerprintSha256: fingerprintOf(cert), pem: certPem, createdAt: now });
    }
    const keyPem = toPem(new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY");
    const dir = mkdtempSync(join(home, `id-${name.replace(/[^A-Za-z0-9_-]/g, "_")}-`));
    const certPath = join(dir, "cert.pem");
    const keyPath = join(dir, "key.pem");
    writeFileSync(certPath, certPem);
    writeFileSync(keyPath, keyPem, { mode: 0o600 });
    return { name, serial, certPem, keyPem, privateKey: keys.privateKey, dir, certPath, keyPath };
  }

  return {
    home,
    paths,
    db,
    authority,
    passphrase: TEST_PASSPHRASE,
    passphraseFile,
    rootPem: certs.rootPem,
    intermediatePem: certs.intermediatePem,
    issueClient,
    async revoke(serial, reason) {
      await authority.revoke(serial, reason);
    },
    async crlPem() {
      const crl = await authority.crl();
      return toPem(new Uint8Array(crl.rawData), "X509 CRL");
    },
    async cleanup() {
      await db.destroy();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
