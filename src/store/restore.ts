/**
 * `certvault restore`: a backup file onto a database that does not exist yet, never over one. Everything is checked
 * before the database appears: the file's digest, the snapshot's SHA-256, SQLite's integrity check, the rows per
 * table and the audit tail against the manifest, and the audit chain with its signed checkpoints (the same check as
 * `certvault audit verify`, with the audit public key the operator put back in HOME/audit). Only then is the snapshot
 * linked into place (atomically, refusing if something appeared there meanwhile).
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, linkSync } from "node:fs";
import { dirname, join } from "node:path";
import { AuditKeyMissingError, BackupInvalidError, RestoreTargetExistsError } from "../errors/index.js";
import { readAnchor } from "../audit/audit-key.js";
import type { AuditPaths } from "../audit/audit-key.js";
import { verifyAuditTrail } from "../audit/verify.js";
import { newestLogged, setLogAside } from "../audit/checkpoint-log.js";
import { AuditRepository } from "./audit.js";
import { extractBackup } from "./backup-format.js";
import type { BackupManifest } from "./backup-format.js";
import { integrityCheck, openSqliteFile, snapshotFacts } from "./backup-sqlite.js";
import { requireOwnSchema } from "./backup-schema.js";
import { fsyncDir } from "./backup.js";
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
import { migrationSource } from "./migrations.js";

export interface RestoreOptions {
  from: string;
  /** The SQLite file to create. */
  target: string;
  /** HOME/audit of the new HOME: audit.pub checks the checkpoints; an anchor.json there is checked or set aside. */
  audit: AuditPaths;
}

export interface RestoreResult {
  manifest: BackupManifest;
  audit: { entries: number; checkpoints: number };
  /** An anchor.json newer than the backup (its entries were lost with the old database), moved to this path. */
  anchorSetAside?: { seq: number; path: string };
}

/** The target and SQLite's companion files must all be absent. */
export function refuseExisting(target: string): void {
  for (const f of [target, `${target}-wal`, `${target}-shm`, `${target}-journal`]) {
    if (existsSync(f))
      throw new RestoreTargetExistsError(
        `${f} exists: restore writes only a new database, never over one (nothing was changed)`,
      );
  }
}

function compareFacts(manifest: BackupManifest, facts: Awaited<ReturnType<typeof snapshotFacts>>): void {
  const names = new Set([...Object.keys(manifest.tables), ...Object.keys(facts.tables)]);
  for (const name of names) {
    if (manifest.tables[name] !== facts.tables[name]) {
      throw new BackupInvalidError(
        `table ${name} holds ${facts.tables[name] ?? "no"} rows where the manifest says ${manifest.tables[name] ?? "none"}`,
      );
    }
  }
  const a = manifest.audit;
  if (a.lastSeq !== facts.audit.lastSeq || a.lastHash !== facts.audit.lastHash) {
    throw new BackupInvalidError(
      `the audit trail ends at entry ${facts.audit.lastSeq} where the manifest says ${a.lastSeq} (${a.lastHash.slice(0, 12)})`,
    );
  }
}

async function unknownMigrations(names: readonly string[]): Promise<string[]> {
  const known = new Set(await migrationSource.getMigrations([]));
  return names.filter((n) => !known.has(n));
}

/** Checks a snapshot file against its manifest and its audit chain; says whether HOME's anchor is newer than it. */
export async function checkSnapshot(
  snapshot: string,
  manifest: BackupManifest,
  paths: AuditPaths,
): Promise<{ entries: number; checkpoints: number; anchorAhead?: number }> {
  const newer = await unknownMigrations(manifest.migrations);
  if (newer.length > 0)
    throw new BackupInvalidError(
      `the backup was made by a newer certvault (schema ${newer.join(", ")}): restore it with that version`,
    );
  if (manifest.audit.lastCheckpointSeq > 0 && !existsSync(paths.pub)) {
    throw new AuditKeyMissingError(
      `${paths.pub} is missing: put HOME/audit back from the key backup before restoring the database (docs/operations.md "Backups"); nothing was changed`,
    );
  }
  const anchor = readAnchor(paths);
  // An anchor past the backup's last entry was written after the backup: those entries are lost, not forged.
  const ahead = Math.max(anchor?.seq ?? 0, newestLogged(paths) ?? 0);
  const anchorAhead = ahead > manifest.audit.lastSeq ? ahead : undefined;
  const db = openSqliteFile(snapshot);
  try {
    const ok = await integrityCheck(db);
    if (ok !== "ok") throw new BackupInvalidError(`the snapshot fails SQLite's integrity check: ${ok}`);
    compareFacts(manifest, await snapshotFacts(db));
    await requireOwnSchema(db, manifest.migrations);
    const verifyPaths = anchorAhead === undefined ? paths : { ...paths, anchor: join(paths.dir, ".no-anchor") };
    // Checked against HOME's signed checkpoints up to the backup's end; with none there, the hashes alone.
    const { result } = await verifyAuditTrail(new AuditRepository(db), verifyPaths, {
      trustedUpTo: manifest.audit.lastSeq,
    });
    if (!result.ok) throw new BackupInvalidError(`the audit trail in the backup does not verify: ${result.problem}`);
    return {
      entries: result.entries,
      checkpoints: result.checkpoints,
      ...(anchorAhead === undefined ? {} : { anchorAhead }),
    };
  } finally {
    await db.destroy();
  }
}

/** Verifies a backup file without restoring it: extracted into a private temp dir beside `scratchDir`, then removed. */
export async function verifyBackup(from: string, scratchDir: string, paths: AuditPaths): Promise<RestoreResult> {
  const work = mkdtempSync(join(scratchDir, ".certvault-verify-"));
  try {
    const snapshot = join(work, "snapshot.db");
    const manifest = extractTo(from, snapshot);
    const checked = await checkSnapshot(snapshot, manifest, paths);
    return { manifest, audit: { entries: checked.entries, checkpoints: checked.checkpoints } };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function extractTo(from: string, snapshot: string): BackupManifest {
  if (!existsSync(from)) throw new BackupInvalidError(`no backup file at ${from}`);
  const fd = openSync(snapshot, "wx", 0o600);
  try {
    return extractBackup(from, fd);
  } finally {
    closeSync(fd);
  }
}

function setAnchorAside(paths: AuditPaths, seq: number, upTo: number): { seq: number; path: string } {
  const suffix = `before-restore-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  const anchorAhead = (readAnchor(paths)?.seq ?? 0) > upTo;
  if (anchorAhead) renameSync(paths.anchor, `${paths.anchor}.${suffix}`);
  // checkpoints.log too: its lines up to the backup's end go on in a new log, the whole old one is kept beside it.
  const log = setLogAside(paths, upTo, suffix);
  return { seq, path: anchorAhead || log === undefined ? `${paths.anchor}.${suffix}` : log };
}

/**
 * How far a restore moves the CRL number on. The lost node may have issued CRLs after the backup (one per registry
 * change and per start); their numbers must never be issued again with other contents (RFC 5280 5.2.3), and SDK
 * clients refuse a CRL whose number goes back (client-sdk/trust-state.ts).
 */
export const CRL_NUMBER_GAP = 1_000_000;

/** Moves the restored database's CRL number counter on by CRL_NUMBER_GAP; returns [before, after]. */
export async function advanceCrlNumber(db: Db): Promise<[number, number]> {
  return db.transaction(async (trx) => {
    const row = (await trx("ca_meta").where({ key: "crl_number" }).first("value")) as { value: unknown } | undefined;
    const before = row ? toNumber(row.value) : 0;
    if (row)
      await trx("ca_meta")
        .where({ key: "crl_number" })
        .update({ value: before + CRL_NUMBER_GAP });
    else await trx("ca_meta").insert({ key: "crl_number", value: CRL_NUMBER_GAP });
    return [before, before + CRL_NUMBER_GAP];
  });
}

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  refuseExisting(opts.target);
  const parent = dirname(opts.target);
  const created = mkdirSync(parent, { recursive: true, mode: 0o700 });
  const work = mkdtempSync(join(parent, ".certvault-restore-"));
  let placed = false;
  try {
    const snapshot = join(work, "certvault.db");
    const manifest = extractTo(opts.from, snapshot);
    const checked = await checkSnapshot(snapshot, manifest, opts.audit);
    refuseExisting(opts.target);
    try {
      linkSync(snapshot, opts.target); // atomic: fails instead of replacing a database that appeared meanwhile
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST")
        throw new RestoreTargetExistsError(`${opts.target} appeared during the restore; nothing was changed`);
      throw err;
    }
    placed = true;
    fsyncDir(parent);
    const result: RestoreResult = { manifest, audit: { entries: checked.entries, checkpoints: checked.checkpoints } };
    if (checked.anchorAhead !== undefined)
      result.anchorSetAside = setAnchorAside(opts.audit, checked.anchorAhead, manifest.audit.lastSeq);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (!placed && created !== undefined) rmSync(created, { recursive: true, force: true });
  }
}
