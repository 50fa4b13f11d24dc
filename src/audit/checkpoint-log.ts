/**
 * Signed checkpoints kept where the database's writers cannot reach: one JSON line per checkpoint, in an append-only
 * file per node (HOME/audit/checkpoints.log, opened O_APPEND and fsynced after each line) and in export files an
 * operator ships elsewhere (`certvault audit checkpoints --export FILE`). The first line of a node's log is the
 * genesis record (entry 0, the all-zero hash), signed when the audit key was made in that HOME: it is what lets the
 * node that started the chain sign its first checkpoint; a node whose HOME holds neither it nor a later checkpoint
 * trusts nothing the database says and signs nothing (audit-log.ts).
 */
import { existsSync, renameSync } from "node:fs";
import type { KeyObject } from "node:crypto";
import { AuditCheckpointFileError } from "../errors/index.js";
import { GENESIS_HASH } from "./chain.js";
import type { Checkpoint } from "./chain.js";
import { checkpointVerifier, readAnchor } from "./audit-key.js";
import { appendCheckpoints, readCheckpointFile } from "./checkpoint-file.js";
import type { AuditPaths } from "./audit-key.js";

/** A checkpoint from outside the database, with the file it came from (named in messages). */
export interface TrustedCheckpoint extends Checkpoint {
  source: string;
}

/**
 * The checkpoints this verifier or node trusts: HOME's anchor.json and checkpoints.log, and `files` (exports), each
 * one's signature checked with `pub`. A bad signature or a genesis record with another hash is an error, never
 * silently skipped: those files are the evidence.
 */
export function trustedCheckpoints(
  paths: AuditPaths,
  pub: KeyObject,
  files: readonly string[] = [],
): TrustedCheckpoint[] {
  const genuine = checkpointVerifier(pub);
  const out: TrustedCheckpoint[] = [];
  const add = (c: Checkpoint, source: string): void => {
    if (!genuine(c))
      throw new AuditCheckpointFileError(
        `the checkpoint at entry ${c.seq} in ${source} has a bad signature (altered, or signed by another audit key)`,
      );
    if (c.seq === 0 && c.hash !== GENESIS_HASH)
      throw new AuditCheckpointFileError(`the genesis record in ${source} names a hash other than the all-zero one`);
    out.push({ ...c, source });
  };
  const anchor = readAnchor(paths);
  if (anchor) add(anchor, paths.anchor);
  if (existsSync(paths.log)) for (const c of readCheckpointFile(paths.log)) add(c, paths.log);
  for (const f of files) {
    if (!existsSync(f)) throw new AuditCheckpointFileError(`no checkpoint file at ${f}`);
    for (const c of readCheckpointFile(f)) add(c, f);
  }
  return out;
}

/** The trusted checkpoint with the highest entry number, if any. */
export function newestTrusted(list: readonly TrustedCheckpoint[]): TrustedCheckpoint | undefined {
  let best: TrustedCheckpoint | undefined;
  for (const c of list) if (best === undefined || c.seq > best.seq) best = c;
  return best;
}

/**
 * A restore of a backup that ends at entry `upTo`: this HOME's log is moved aside (kept, renamed) and a new one
 * begun with its lines up to `upTo`, so that the restored node continues from what the backup holds. Returns the old
 * log's new path, or undefined when nothing in it was past `upTo`.
 */
export function setLogAside(paths: AuditPaths, upTo: number, suffix: string): string | undefined {
  if (!existsSync(paths.log)) return undefined;
  const all = readCheckpointFile(paths.log);
  if (!all.some((c) => c.seq > upTo)) return undefined;
  const aside = `${paths.log}.${suffix}`;
  renameSync(paths.log, aside);
  appendCheckpoints(
    paths.log,
    all.filter((c) => c.seq <= upTo),
  );
  return aside;
}

/** The highest entry number named in this HOME's log (signatures unchecked: for comparisons only). */
export function newestLogged(paths: AuditPaths): number | undefined {
  if (!existsSync(paths.log)) return undefined;
  let seq: number | undefined;
  for (const c of readCheckpointFile(paths.log)) if (seq === undefined || c.seq > seq) seq = c.seq;
  return seq;
}
