/**
 * The audit hash chain, pure: each entry's hash covers its sequence number, the previous entry's hash and every
 * field, so editing, deleting, inserting or reordering entries breaks the chain at the first affected entry.
 * Checkpoints (signed elsewhere) pin the hash at a sequence number, so rewriting the whole chain is caught too.
 */
import { hash } from "node:crypto";

export const GENESIS_HASH = "0".repeat(64);

/** What is recorded: who did what to which record, and how it ended. Never content, never a key. */
export interface AuditEvent {
  time: Date;
  /** The identity (API) or the operator (`cli:USER`). */
  actor: string;
  serial?: string | null;
  source?: string | null;
  /** e.g. `records.get`, `ca.revoke`, `auth.refused`. */
  action: string;
  recordId?: string | null;
  /** HTTP status for API access; 0 for what is not an HTTP answer (a write's attempt, a CA or quarantine operation). */
  status: number;
  requestId?: string | null;
  /** Small structured extras (reason, rule, serials); never content. */
  detail?: Record<string, string | number | boolean> | null;
}

export interface AuditEntry extends AuditEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

export interface Checkpoint {
  seq: number;
  hash: string;
  time: Date;
  /** base64 ECDSA signature over checkpointMessage(). */
  signature: string;
}

function canonical(seq: number, prevHash: string, e: AuditEvent): string {
  return JSON.stringify([
    seq,
    prevHash,
    e.time.getTime(),
    e.actor,
    e.serial ?? null,
    e.source ?? null,
    e.action,
    e.recordId ?? null,
    e.status,
    e.requestId ?? null,
    e.detail
      ? Object.keys(e.detail)
          .sort()
          .map((k) => [k, (e.detail as Record<string, unknown>)[k]])
      : null,
  ]);
}

export function entryHash(seq: number, prevHash: string, e: AuditEvent): string {
  // One-shot hashing: a Hash object per entry costs more than hashing its few hundred bytes.
  return hash("sha256", canonical(seq, prevHash, e), "hex");
}

/** Links events onto a chain whose last entry is (lastSeq, lastHash). */
export function link(events: readonly AuditEvent[], lastSeq: number, lastHash: string): AuditEntry[] {
  const out: AuditEntry[] = [];
  let seq = lastSeq;
  let prev = lastHash;
  for (const e of events) {
    seq += 1;
    const hash = entryHash(seq, prev, e);
    // Field by field: an object spread here cost more than hashing the entry.
    out.push({
      time: e.time,
      actor: e.actor,
      serial: e.serial ?? null,
      source: e.source ?? null,
      action: e.action,
      recordId: e.recordId ?? null,
      status: e.status,
      requestId: e.requestId ?? null,
      detail: e.detail ?? null,
      seq,
      prevHash: prev,
      hash,
    });
    prev = hash;
  }
  return out;
}

export function checkpointMessage(seq: number, hash: string, time: Date): string {
  return `certvault-audit-checkpoint\n${seq}\n${hash}\n${time.getTime()}\n`;
}

export type VerifyResult =
  { ok: true; entries: number; checkpoints: number } | { ok: false; seq: number; problem: string };

/**
 * Verifies entries (in stored order) against the chain rules and the checkpoints. `checkSignature` says whether a
 * checkpoint's signature is genuine. `anchor`, when given, is the newest checkpoint kept outside the database.
 */
export function verifyChain(
  entries: readonly AuditEntry[],
  checkpoints: readonly Checkpoint[],
  checkSignature: (c: Checkpoint) => boolean,
  anchor?: { seq: number; hash: string },
): VerifyResult {
  let prev = GENESIS_HASH;
  const bySeq = new Map<number, AuditEntry>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as AuditEntry;
    const expected = i + 1;
    if (e.seq !== expected)
      return {
        ok: false,
        seq: expected,
        problem:
          e.seq > expected
            ? `entry ${expected} is missing (the next one stored is ${e.seq})`
            : `entry ${e.seq} is out of order`,
      };
    if (e.prevHash !== prev)
      return {
        ok: false,
        seq: e.seq,
        problem: `entry ${e.seq} does not follow entry ${e.seq - 1} (removed, inserted or reordered)`,
      };
    if (entryHash(e.seq, e.prevHash, e) !== e.hash)
      return { ok: false, seq: e.seq, problem: `entry ${e.seq} was altered (its hash does not match its fields)` };
    prev = e.hash;
    bySeq.set(e.seq, e);
  }
  const last = entries.length;
  for (const c of [...checkpoints].sort((a, b) => a.seq - b.seq)) {
    if (!checkSignature(c))
      return { ok: false, seq: c.seq, problem: `the checkpoint at entry ${c.seq} has a bad signature` };
    if (c.seq > last)
      return {
        ok: false,
        seq: last + 1,
        problem: `entry ${last + 1} is missing: a signed checkpoint covers entries up to ${c.seq}`,
      };
    if (bySeq.get(c.seq)?.hash !== c.hash)
      return {
        ok: false,
        seq: c.seq,
        problem: `entry ${c.seq} does not match its signed checkpoint (the chain was rewritten)`,
      };
  }
  if (anchor) {
    if (anchor.seq > last)
      return {
        ok: false,
        seq: last + 1,
        problem: `entry ${last + 1} is missing: the checkpoint anchor outside the database covers entries up to ${anchor.seq}`,
      };
    if (anchor.seq > 0 && bySeq.get(anchor.seq)?.hash !== anchor.hash)
      return {
        ok: false,
        seq: anchor.seq,
        problem: `entry ${anchor.seq} does not match the checkpoint anchor outside the database`,
      };
  }
  return { ok: true, entries: last, checkpoints: checkpoints.length };
}
