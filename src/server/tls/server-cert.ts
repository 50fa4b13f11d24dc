/**
 * The server's own TLS certificate, issued by our CA on first start (SANs localhost, 127.0.0.1, ::1) and re-issued
 * when it is within a week of expiry. Its key is kept encrypted under the CA passphrase, like every key at rest.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { x509 } from "../../x509/x509.js";
import { decryptPrivateKey, encryptCryptoKey } from "../../keys/encrypted-pkcs8.js";
import { generateKeyPair } from "../../keys/key-types.js";
import { writeFileAtomic, writeSecretFile } from "../../files/secret-file.js";
import type { CertificateAuthority } from "../../ca/authority.js";

export const SERVER_SANS = ["localhost", "127.0.0.1", "::1"];
const RENEW_BEFORE_MS = 7 * 86_400_000;

export interface ServerIdentity {
  keyPem: string;
  certPem: string;
  passphrase: string;
}

export async function ensureServerCertificate(
  home: string,
  ca: CertificateAuthority,
  passphrase: string,
  now: Date,
): Promise<ServerIdentity> {
  const dir = join(home, "server");
  const keyPath = join(dir, "server.key");
  const certPath = join(dir, "server.crt");
  if (existsSync(keyPath) && existsSync(certPath)) {
    const certPem = readFileSync(certPath, "utf8");
    const keyPem = readFileSync(keyPath, "utf8");
    const cert = new x509.X509Certificate(certPem);
    decryptPrivateKey(keyPem, passphrase); // fails early and clearly on a wrong passphrase
    if (cert.notAfter.getTime() - now.getTime() > RENEW_BEFORE_MS) return { keyPem, certPem, passphrase };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = await generateKeyPair("ec-p256");
  const issued = await ca.issueForKey({
    publicKey: keys.publicKey,
    commonName: "localhost",
    family: "EC",
    keyType: "ec-p256",
    profile: "server",
    days: 365,
    sans: SERVER_SANS,
  });
  const keyPem = await encryptCryptoKey(keys.privateKey, passphrase);
  writeSecretFile(keyPath, keyPem, { overwrite: true });
  writeFileAtomic(certPath, issued.pem, { mode: 0o644, overwrite: true });
  return { keyPem, certPem: issued.pem, passphrase };
}
