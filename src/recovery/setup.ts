/**
 * `certvault recovery init`: a recovery key pair made here, its certificate issued by our CA under the reserved name,
 * and its private key split with Shamir's secret sharing (shamir-secret-sharing, independently audited) into one share
 * per custodian, each sealed to that custodian's certificate. Then the private key is wiped: nobody holds it whole,
 * and fewer than `threshold` custodians together learn nothing about it. The custodians are vetted first
 * (custodians.ts): K shares must mean K different people.
 *
 * With `replace` (after a compromise, or when a custodian leaves), the active recovery certificate is revoked first,
 * then the new one is set up; if anything fails in between there is no recovery certificate at all, which servers and
 * SDKs treat as "seal without one" (fail closed: nothing is sealed to a key that may be compromised).
 */
import { webcrypto } from "node:crypto";
import { split } from "shamir-secret-sharing";
import { seal } from "../envelope/index.js";
import { CertificateNotFoundError, UsageError } from "../errors/index.js";
import type { CertificateAuthority } from "../ca/authority.js";
import { RECOVERY_IDENTITY } from "../ca/profiles.js";
import type { ReasonName } from "../ca/reasons.js";
import type { CertificateRecord } from "../store/certificates.js";
import { vetCustodians } from "./custodians.js";
import type { Custodian, CustodianInput } from "./custodians.js";
import type { CheckContext } from "./certificate-check.js";

export interface RecoverySetup {
  certificatePem: string;
  serial: string;
  /** One DER CMS envelope per custodian, in the order given, sealed to that custodian's certificate. */
  shares: { custodian: string; envelope: Uint8Array }[];
  /** The vetted custodians, in the order given (identity, serial, fingerprint): for the operator to confirm. */
  custodians: Custodian[];
  /** Serials of the recovery certificates revoked by `replace`. */
  replaced: string[];
}

/** Recovery certificates live long: records sealed to one must stay recoverable for as long as they are kept. */
const RECOVERY_DAYS = 825;

/** The CA's registry and certificates, as the certificate checks want them. */
export function caCheckContext(ca: CertificateAuthority, now = new Date()): CheckContext {
  return {
    ca: ca.certificates,
    now,
    lookup: (serial) =>
      ca.show(serial).catch((err: unknown) => {
        if (err instanceof CertificateNotFoundError) return null;
        throw err;
      }),
  };
}

export async function activeRecoveryCertificates(
  ca: CertificateAuthority,
  now = new Date(),
): Promise<CertificateRecord[]> {
  return (await ca.list()).filter(
    (c) => c.identity === RECOVERY_IDENTITY && c.storedStatus === "active" && c.notAfter.getTime() > now.getTime(),
  );
}

export async function setUpRecovery(
  ca: CertificateAuthority,
  inputs: readonly CustodianInput[],
  threshold: number,
  opts: { replace?: ReasonName } = {},
): Promise<RecoverySetup> {
  const custodians = await vetCustodians(inputs, threshold, caCheckContext(ca));
  const existing = await activeRecoveryCertificates(ca);
  if (existing.length > 0 && !opts.replace) {
    throw new UsageError(
      `an active recovery certificate exists already (serial ${existing[0]?.serial}); replace it with \`certvault recovery init --replace\``,
    );
  }
  // Revoked before the new one exists: a compromised recovery key must stop receiving records even if what follows fails.
  for (const old of existing) await ca.revoke(old.serial, opts.replace);
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const issued = await ca.issueForKey({
    recovery: true,
    publicKey: keys.publicKey,
    commonName: RECOVERY_IDENTITY,
    family: "EC",
    keyType: "ec-p256",
    profile: "client",
    days: RECOVERY_DAYS,
  });
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  try {
    const parts = await split(pkcs8, custodians.length, threshold);
    const shares = parts.map((part, i) => {
      const c = custodians[i] as Custodian;
      try {
        return { custodian: c.identity, envelope: seal(part, [c.pem]) };
      } finally {
        part.fill(0);
      }
    });
    return {
      certificatePem: issued.pem,
      serial: issued.record.serial,
      shares,
      custodians,
      replaced: existing.map((c) => c.serial),
    };
  } finally {
    pkcs8.fill(0);
  }
}
