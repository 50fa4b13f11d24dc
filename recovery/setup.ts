/**
 * `certvault recovery init`: a recovery key pair made here, its certificate issued by our CA under the reserved name,
 * and its private key split with Shamir's secret sharing (shamir-secret-sharing, independently audited) into one share
 * per custodian, each sealed to that custodian's certificate. Then the private key is wiped: nobody holds it whole,
 * and fewer than `threshold` custodians together learn nothing about it.
 */
import { webcrypto } from "node:crypto";
import { split } from "shamir-secret-sharing";
import { seal } from "../envelope/index.js";
import { x509 } from "../keys/x509.js";
import { UsageError } from "../errors/index.js";
import type { CertificateAuthority } from "../ca/authority.js";
import { RECOVERY_IDENTITY } from "../ca/profiles.js";

export interface RecoverySetup {
  certificatePem: string;
  serial: string;
  /** One DER CMS envelope per custodian, in the order given, sealed to that custodian's certificate. */
  shares: { custodian: string; envelope: Uint8Array }[];
}

/** Recovery certificates live long: records sealed to one must stay recoverable for as long as they are kept. */
const RECOVERY_DAYS = 825;

export async function setUpRecovery(ca: CertificateAuthority, custodianCerts: readonly string[], threshold: number): Promise<RecoverySetup> {
  if (custodianCerts.length < 2 || custodianCerts.length > 255) throw new UsageError("give 2 to 255 custodian certificates (--custodian FILE, repeated)");
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > custodianCerts.length) throw new UsageError(`--threshold must be a whole number from 2 to ${custodianCerts.length}`);
  const custodians = custodianCerts.map((pem) => new x509.X509Certificate(pem));
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const existing = (await ca.list()).filter((c) => c.identity === RECOVERY_IDENTITY && c.storedStatus === "active" && c.notAfter.getTime() > Date.now());
  if (existing.length > 0) throw new UsageError(`an active recovery certificate exists already (serial ${existing[0]?.serial}); revoke it before setting recovery up again`);
  const issued = await ca.issueForKey({ recovery: true, publicKey: keys.publicKey, commonName: RECOVERY_IDENTITY, family: "EC", keyType: "ec-p256", profile: "client", days: RECOVERY_DAYS });
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  try {
    const parts = await split(pkcs8, custodians.length, threshold);
    const shares = parts.map((part, i) => {
      try {
        return { custodian: (custodians[i] as x509.X509Certificate).subjectName.getField("CN")[0] ?? `custodian-${i + 1}`, envelope: seal(part, [custodianCerts[i] as string]) };
      } finally {
        part.fill(0);
      }
    });
    return { certificatePem: issued.pem, serial: issued.record.serial, shares };
  } finally {
    pkcs8.fill(0);
  }
}
