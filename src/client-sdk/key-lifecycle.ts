/**
 * Key lifecycle on the client: rotation (re-wrap every record to a new certificate) and sharing (wrap a record's key
 * for another identity, then grant). Content bytes are never re-encrypted; only recipient infos change. Every write
 * is a compare-and-swap on the record's version; a record changed meanwhile is fetched again (up to 5 times).
 */
import type { KeyObject } from "node:crypto";
import { addRecipients, isRecipient, recipientsOf, removeRecipients } from "../envelope/index.js";
import { ServerError } from "./errors.js";
import type { RecordInfo } from "./client.js";

export interface RotationProgress {
  rewrapped: number;
  skipped: number;
  /** Writes refused because the record changed meanwhile (each then fetched and re-wrapped again). */
  retried: number;
  /** Records this key is not a recipient of (left as they are; rotate them from a device that can open them). */
  notOpenable: number;
}

export interface LifecycleClient {
  key: KeyObject;
  certPem: string;
  /** The verified recovery certificate, if recovery is set up: re-wrapped records get it when they lack it. */
  recovery(): Promise<string | undefined>;
  all(): AsyncGenerator<RecordInfo>;
  getVersioned(id: string): Promise<{ envelope: Uint8Array; version: number }>;
  putEnvelope(id: string, envelope: Uint8Array, version: number): Promise<number>;
  /** Throws unless the envelope opens as this identity's own record `id`, signed and bound (record-trust.ts). */
  verifyOwn(id: string, envelope: Uint8Array): Promise<void>;
  /** Grants (with the owner's signed statement) or, with none, removes the grant. */
  setGrant(id: string, identity: string, statement: Uint8Array | undefined, version: number): Promise<void>;
}

const ATTEMPTS = 5;

function isStale(err: unknown): boolean {
  return err instanceof ServerError && err.code === "precondition_failed";
}

/**
 * Re-wraps every record to `newCertPem` (already verified by the caller). With `dropOld`, this client's certificate
 * is removed as a recipient too. Idempotent: records that already have the new recipient are skipped, so an
 * interrupted rotation is finished by running it again.
 */
export async function rotateRecords(
  c: LifecycleClient,
  newCertPem: string,
  opts: { dropOld?: boolean; onProgress?: (p: RotationProgress) => void },
): Promise<RotationProgress> {
  const progress: RotationProgress = { rewrapped: 0, skipped: 0, retried: 0, notOpenable: 0 };
  const recovery = await c.recovery();
  const ids: string[] = [];
  for await (const r of c.all()) ids.push(r.id);
  for (const id of ids) {
    for (let attempt = 1; ; attempt++) {
      const { envelope, version } = await c.getVersioned(id);
      const hasNew = isRecipient(envelope, newCertPem);
      const hasOld = isRecipient(envelope, c.certPem);
      const lacksRecovery = recovery !== undefined && !isRecipient(envelope, recovery);
      if (hasNew && !(opts.dropOld && hasOld) && !lacksRecovery) {
        progress.skipped++;
        break;
      }
      if (!hasNew && !hasOld) {
        // Sealed to other certificates of the identity only (another device): this key cannot re-wrap it.
        progress.notOpenable++;
        break;
      }
      // No content check: the cost stays flat with record size (the key unwrap itself is authenticated).
      // Records stored before recovery was set up get the recovery recipient too (the server requires it now).
      const add = [...(hasNew ? [] : [newCertPem]), ...(lacksRecovery ? [recovery] : [])];
      if (add.length > 0 && !hasOld) {
        progress.notOpenable++; // already moved off this key by an earlier rotation: another key must do the rest
        break;
      }
      let next = add.length === 0 ? envelope : addRecipients(envelope, c.key, c.certPem, add, { verifyContent: false });
      if (opts.dropOld) next = removeRecipients(next, [c.certPem]);
      try {
        await c.putEnvelope(id, next, version);
        progress.rewrapped++;
        break;
      } catch (err) {
        if (!isStale(err) || attempt >= ATTEMPTS) throw err;
        progress.retried++;
      }
    }
    opts.onProgress?.({ ...progress });
  }
  return progress;
}

/**
 * Wraps the record's key for `certs` (the grantee's, already verified by the caller), stores it, then grants with the
 * owner's signed `statement`. The envelope is verified first as this identity's record `id`: re-wrapping whatever the
 * server hands over would give the grantee another record (the content check is that verification, not a second one).
 */
export async function shareRecord(
  c: LifecycleClient,
  id: string,
  identity: string,
  certs: readonly string[],
  statement: Uint8Array,
): Promise<void> {
  const recovery = await c.recovery();
  for (let attempt = 1; ; attempt++) {
    const { envelope, version } = await c.getVersioned(id);
    await c.verifyOwn(id, envelope);
    const missing = [...certs, ...(recovery ? [recovery] : [])].filter((cert) => !isRecipient(envelope, cert));
    try {
      const v =
        missing.length === 0
          ? version
          : await c.putEnvelope(
              id,
              addRecipients(envelope, c.key, c.certPem, missing, { verifyContent: false }),
              version,
            );
      await c.setGrant(id, identity, statement, v);
      return;
    } catch (err) {
      if (!isStale(err) || attempt >= ATTEMPTS) throw err;
    }
  }
}

/**
 * Removes every recipient not in `keep` (the owner's certificates, the recovery certificate, other grantees'), so
 * that certificates of the unshared identity go even when the directory no longer lists them, then drops the grant.
 */
export async function unshareRecord(
  c: LifecycleClient,
  id: string,
  identity: string,
  keep: readonly string[],
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { envelope, version } = await c.getVersioned(id);
    const drop = recipientsOf(envelope).filter((rid) => !keep.some((cert) => isRecipient([rid], cert)));
    try {
      const v = drop.length === 0 ? version : await c.putEnvelope(id, removeRecipients(envelope, drop), version);
      await c.setGrant(id, identity, undefined, v);
      return;
    } catch (err) {
      if (!isStale(err) || attempt >= ATTEMPTS) throw err;
    }
  }
}
