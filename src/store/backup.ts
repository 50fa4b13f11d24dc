/**
 * `certvault backup`: a consistent snapshot of a live SQLite database (VACUUM INTO, while the server keeps serving)
 * with a manifest, as one file (store/backup-format.ts), written to a temp file next to its destination, fsynced,
 * mode 0600, then moved into place. The database holds only ciphertext, certificates and the audit trail; the keys
 * that make it usable (HOME/ca, HOME/audit, HOME/server) are not in it and are backed up apart (docs/operations.md).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { BackupInvalidError } from "../errors/index.js";
import { FileExistsError } from "../files/secret-file.js";
import type { Db } from "./db.js";
import { BACKUP_FORMAT_VERSION, writeBackupStream } from "./backup-format.js";
import type { BackupManifest } from "./backup-format.js";
import { integrityCheck, openSqliteFile, snapshotFacts, vacuumInto } from "./backup-sqlite.js";

export interface BackupOptions {
  /** An open handle on the live database (openSqliteFile) and the path it was opened from. */
  db: Db;
  sourcePath: string;
  out: string;
  /** Replace an existing file at `out` (default: refuse). */
  force?: boolean;
  now?: () => Date;
}

export function sha256File(path: string): { sha256: string; bytes: number } {
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  const buf = Buffer.alloc(1024 * 1024);
  let bytes = 0;
  try {
    let n: number;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) {
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** Flushes a directory entry (a rename or link) to disk. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function describeSnapshot(snapshot: string): Promise<Pick<BackupManifest, "tables" | "audit" | "migrations">> {
  const db = openSqliteFile(snapshot);
  try {
    const ok = await integrityCheck(db);
    if (ok !== "ok") throw new BackupInvalidError(`the snapshot fails SQLite's integrity check: ${ok}`);
    return await snapshotFacts(db);
  } finally {
    await db.destroy();
  }
}

function place(tmp: string, out: string, force: boolean): void {
  if (force) renameSync(tmp, out);
  else {
    try {
      linkSync(tmp, out); // fails with EEXIST instead of replacing: a previous backup is never clobbered
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new FileExistsError(out);
      throw err;
    }
  }
  fsyncDir(dirname(out));
}

/** Takes the snapshot and writes the backup file; returns its manifest. */
export async function createBackup(opts: BackupOptions): Promise<BackupManifest> {
  const out = resolve(opts.out);
  if (!opts.force && existsSync(out)) throw new FileExistsError(out);
  // A private directory (0700) beside the destination: same file system, so the final step is a link or rename.
  const work = mkdtempSync(join(dirname(out), `.${basename(out)}.`));
  try {
    const snapshot = join(work, "snapshot.db");
    // Before the snapshot's read transaction begins: whatever was acknowledged before this instant is in it.
    const createdAt = (opts.now ?? (() => new Date()))();
    await vacuumInto(opts.db, snapshot);
    const facts = await describeSnapshot(snapshot);
    const { sha256, bytes } = sha256File(snapshot);
    const manifest: BackupManifest = {
      format: "certvault-backup",
      version: BACKUP_FORMAT_VERSION,
      createdAt: createdAt.toISOString(),
      source: { engine: "sqlite", path: opts.sourcePath, host: hostname() },
      database: { bytes, sha256 },
      ...facts,
    };
    const tmp = join(work, "backup");
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeBackupStream(fd, manifest, snapshot);
    } finally {
      closeSync(fd);
    }
    place(tmp, out, opts.force === true);
    return manifest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
