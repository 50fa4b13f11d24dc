/**
 * `certvault recover`: with K custodian shares, the recovery key is rebuilt in memory (never written), checked
 * against the recovery certificate, and used to wrap each of the identity's records for the identity's new
 * certificate. Content bytes are untouched; each write is a compare-and-swap on the record's version.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { combine } from "shamir-secret-sharing";
import { addRecipients, isRecipient } from "../envelope/index.js";
import { x509 } from "../x509/x509.js";
import { RecoveryFailedError, UsageError } from "../errors/index.js";
import type { RecordRepository } from "../store/records.js";

export { RecoveryFailedError };

export interface RecoveryResult {
  rewrapped: number;
  skipped: number;
  /** Records stored before recovery was set up (not sealed to the recovery certificate): they cannot be recovered. */
  notRecoverable: number;
}

/** Rebuilds the recovery key from shares; fails (typed) unless it is the key of `recoveryCertPem`. */
export async function rebuildRecoveryKey(shares: readonly Uint8Array[], recoveryCertPem: string): Promise<KeyObject> {
  if (shares.length < 2)
    throw new RecoveryFailedError("at least two shares are needed (as many as the threshold set at init)");
  let pkcs8: Uint8Array | undefined;
  try {
    pkcs8 = await combine([...shares]);
    const key = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
    const certKey = createPublicKey(recoveryCertPem).export({ format: "der", type: "spki" });
    if (!createPublicKey(key).export({ format: "der", type: "spki" }).equals(certKey)) throw new Error("mismatch");
    return key;
  } catch {
    throw new RecoveryFailedError(
      "the shares do not rebuild the recovery key: too few of them, or not all from this recovery set",
    );
  } finally {
    pkcs8?.fill(0);
  }
}

export async function recoverRecords(p: {
  records: RecordRepository;
  identity: string;
  recoveryKey: KeyObject;
  recoveryCertPem: string;
  newCertPem: string;
  now: () => Date;
}): Promise<RecoveryResult> {
  const newCert = new x509.X509Certificate(p.newCertPem);
  if (newCert.subjectName.getField("CN")[0] !== p.identity)
    throw new UsageError(`the new certificate is not for "${p.identity}"`);
  const result: RecoveryResult = { rewrapped: 0, skipped: 0, notRecoverable: 0 };
  let after: { createdAt: number; id: string } | null = null;
  for (;;) {
    const page = await p.records.page(p.identity, 200, after);
    for (const meta of page) {
      for (let attempt = 1; ; attempt++) {
        const found = await p.records.getEnvelope(p.identity, meta.id);
        if (!found) break; // deleted meanwhile
        if (isRecipient(found.envelope, p.newCertPem)) {
          result.skipped++;
          break;
        }
        if (!isRecipient(found.envelope, p.recoveryCertPem)) {
          result.notRecoverable++;
          break;
        }
        const next = addRecipients(found.envelope, p.recoveryKey, p.recoveryCertPem, [p.newCertPem], {
          verifyContent: false,
        });
        if (
          await p.records.replace({
            id: meta.id,
            owner: p.identity,
            envelope: next,
            now: p.now(),
            expectedVersion: found.version,
          })
        ) {
          result.rewrapped++;
          break;
        }
        if (attempt >= 5) throw new RecoveryFailedError(`record ${meta.id} keeps changing; run recover again`);
      }
    }
    const last = page[page.length - 1];
    if (page.length < 200 || !last) break;
    after = { createdAt: last.createdAt.getTime(), id: last.id };
  }
  return result;
}
