/**
 * `audit verify` as a library call. The rule (docs/operations.md "What verify proves"):
 * - the whole chain is recomputed from the genesis hash (every entry's hash and link);
 * - every checkpoint in the database carries a genuine signature of the audit key and matches the recomputed chain;
 * - and the chain is **anchored**: at least one signed checkpoint from outside the database (HOME/audit/anchor.json,
 *   HOME/audit/checkpoints.log, or an exported file given with --checkpoints) verifies with the audit public key
 *   (HOME/audit/audit.pub or --audit-pub), and every such checkpoint's entry and hash are in the recomputed chain.
 *   Whoever can write the database can recompute every hash and delete every checkpoint row; they cannot make a
 *   checkpoint they did not get signed, nor reach the files. Entries after the newest trusted checkpoint rest on the
 *   hash chain (and the database's checkpoints) alone, and the report says up to where the anchor reaches.
 * `hashesOnly` drops the third point, and says so: it proves only that the stored rows are consistent with each other.
 */
import type { KeyObject } from "node:crypto";
import type { AuditRepository } from "../store/audit.js";
import { verifyChain } from "./chain.js";
import type { AuditEntry, VerifyResult } from "./chain.js";
import { checkpointVerifier, readAuditPublicKey } from "./audit-key.js";
import type { AuditPaths } from "./audit-key.js";
import { newestTrusted, trustedCheckpoints } from "./checkpoint-log.js";
import type { TrustedCheckpoint } from "./checkpoint-log.js";

export interface VerifyOptions {
  /** Check the hashes (and the database's checkpoint signatures, when a key is at hand) without a trusted anchor. */
  hashesOnly?: boolean;
  /** The audit public key (`--audit-pub FILE`); default HOME/audit/audit.pub. */
  pub?: KeyObject;
  /** Exported checkpoint files (`--checkpoints FILE`), trusted besides HOME's anchor.json and checkpoints.log. */
  checkpointFiles?: readonly string[];
  /** Trusted checkpoints past this entry are left out (a restore: what came after the backup was lost, not forged). */
  trustedUpTo?: number;
}

export interface AuditReport {
  result: VerifyResult;
  /** The newest trusted checkpoint the chain was found to contain. */
  anchor?: { seq: number; source: string };
  /** Set when no trusted anchor was checked: why (told --hashes-only, or none exists). */
  unanchored?: "hashes-only" | "no-anchor";
}

function fail(seq: number, problem: string): AuditReport {
  return { result: { ok: false, seq, problem } };
}

/** The first trusted checkpoint the recomputed (already verified, seq = index + 1) chain does not contain. */
function checkAgainst(entries: readonly AuditEntry[], trusted: readonly TrustedCheckpoint[]): AuditReport | undefined {
  const last = entries.length;
  for (const c of [...trusted].sort((a, b) => a.seq - b.seq)) {
    const where = `the checkpoint anchor outside the database (${c.source})`;
    if (c.seq > last) return fail(last + 1, `entry ${last + 1} is missing: ${where} covers entries up to ${c.seq}`);
    if (c.seq > 0 && entries[c.seq - 1]?.hash !== c.hash)
      return fail(c.seq, `entry ${c.seq} does not match ${where}: the chain was rewritten`);
  }
  return undefined;
}

export async function verifyAuditTrail(
  repo: AuditRepository,
  paths: AuditPaths,
  opts: VerifyOptions = {},
): Promise<AuditReport> {
  const pub = opts.pub ?? readAuditPublicKey(paths);
  const entries = await repo.all();
  const checkpoints = await repo.checkpoints();
  if (opts.hashesOnly) {
    const result = verifyChain(entries, pub ? checkpoints : [], pub ? checkpointVerifier(pub) : () => false);
    return result.ok ? { result, unanchored: "hashes-only" } : { result };
  }
  if (!pub)
    return fail(
      checkpoints[0]?.seq ?? 0,
      `the audit public key ${paths.pub} is missing (or give --audit-pub FILE), so no checkpoint can be checked`,
    );
  const trusted = trustedCheckpoints(paths, pub, opts.checkpointFiles).filter(
    (c) => opts.trustedUpTo === undefined || c.seq <= opts.trustedUpTo,
  );
  const result = verifyChain(entries, checkpoints, checkpointVerifier(pub));
  if (!result.ok) return { result };
  const mismatch = checkAgainst(entries, trusted);
  if (mismatch) return mismatch;
  const newest = newestTrusted(trusted);
  if (!newest) return { result, unanchored: "no-anchor" };
  return { result, anchor: { seq: newest.seq, source: newest.source } };
}

/** verifyAuditTrail's verdict alone; without a trusted anchor (and not hashes-only) it is a failure. */
export async function verifyAudit(
  repo: AuditRepository,
  paths: AuditPaths,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const report = await verifyAuditTrail(repo, paths, opts);
  if (report.unanchored === "no-anchor") return { ok: false, seq: 0, problem: noAnchorMessage(paths) };
  return report.result;
}

export function noAnchorMessage(paths: AuditPaths): string {
  return `no trusted anchor: no signed checkpoint from outside the database (${paths.anchor}, ${paths.log}, or --checkpoints FILE) to check the chain against; a database writer could have rewritten all of it. Give the exported checkpoints with --checkpoints FILE, or check the hashes alone with --hashes-only`;
}
