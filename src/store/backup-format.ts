/**
 * The backup file: ONE self-describing file, written and read as a stream (a database can be larger than memory).
 *
 *   offset 0   16 bytes  "certvault-backup" (ASCII magic)
 *   16         4 bytes   format version, unsigned big-endian (1)
 *   20         4 bytes   manifest length L, unsigned big-endian (at most 1 MiB)
 *   24         L bytes   the manifest, UTF-8 JSON (BackupManifest)
 *   24+L       N bytes   the SQLite database snapshot (N = manifest.database.bytes, SHA-256 = manifest.database.sha256)
 *   24+L+N     32 bytes  SHA-256 of every byte before it
 *
 * The trailing digest catches damage anywhere, the manifest included; it is not a signature: whoever can rewrite the
 * file can recompute it (the audit chain's signed checkpoints, checked on restore, and the SDK's signed records are
 * what such a writer cannot forge).
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";
import { BackupInvalidError } from "../errors/index.js";

export const BACKUP_MAGIC = Buffer.from("certvault-backup", "ascii");
export const BACKUP_FORMAT_VERSION = 1;
const HEADER_BYTES = 24;
const DIGEST_BYTES = 32;
const MAX_MANIFEST_BYTES = 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface BackupManifest {
  format: "certvault-backup";
  version: number;
  /** Taken just before the snapshot began: every write acknowledged before this instant is in the snapshot. */
  createdAt: string;
  source: { engine: "sqlite"; path: string; host: string };
  database: { bytes: number; sha256: string };
  /** Rows per table of the snapshot (every table but SQLite's own). */
  tables: Record<string, number>;
  /** The newest audit entry in the snapshot (seq 0 and 64 zeros for an empty trail) and the newest signed checkpoint. */
  audit: { lastSeq: number; lastHash: string; lastCheckpointSeq: number };
  /** The schema migrations applied to the snapshot, in order. */
  migrations: string[];
}

function header(manifestBytes: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  BACKUP_MAGIC.copy(h, 0);
  h.writeUInt32BE(BACKUP_FORMAT_VERSION, 16);
  h.writeUInt32BE(manifestBytes.length, 20);
  return h;
}

function writeAll(fd: number, buf: Buffer, hash: Hash): void {
  hash.update(buf);
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** Streams header, manifest, the snapshot file and the digest into `outFd` (an open, empty file); fsyncs it. */
export function writeBackupStream(outFd: number, manifest: BackupManifest, snapshotPath: string): void {
  const hash = createHash("sha256");
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2), "utf8");
  writeAll(outFd, header(manifestBytes), hash);
  writeAll(outFd, manifestBytes, hash);
  const inFd = openSync(snapshotPath, "r");
  try {
    const buf = Buffer.alloc(CHUNK);
    let n: number;
    while ((n = readSync(inFd, buf, 0, CHUNK, null)) > 0) writeAll(outFd, buf.subarray(0, n), hash);
  } finally {
    closeSync(inFd);
  }
  const digest = hash.digest();
  let off = 0;
  while (off < digest.length) off += writeSync(outFd, digest, off, digest.length - off);
  fsyncSync(outFd);
}

function readExactly(fd: number, length: number, what: string): Buffer {
  const buf = Buffer.alloc(length);
  let off = 0;
  while (off < length) {
    const n = readSync(fd, buf, off, length - off, null);
    if (n === 0) throw new BackupInvalidError(`the backup file is truncated (in its ${what})`);
    off += n;
  }
  return buf;
}

function parseManifest(bytes: Buffer): BackupManifest {
  let m: BackupManifest;
  try {
    m = JSON.parse(bytes.toString("utf8")) as BackupManifest;
  } catch {
    throw new BackupInvalidError("the backup's manifest is not valid JSON (the file is damaged)");
  }
  const ok =
    m !== null &&
    typeof m === "object" &&
    m.format === "certvault-backup" &&
    m.version === BACKUP_FORMAT_VERSION &&
    typeof m.createdAt === "string" &&
    Number.isSafeInteger(m.database?.bytes) &&
    m.database.bytes >= 0 &&
    /^[0-9a-f]{64}$/.test(m.database?.sha256 ?? "") &&
    typeof m.tables === "object" &&
    m.tables !== null &&
    Number.isSafeInteger(m.audit?.lastSeq) &&
    /^[0-9a-f]{64}$/.test(m.audit?.lastHash ?? "") &&
    Array.isArray(m.migrations);
  if (!ok) throw new BackupInvalidError("the backup's manifest is incomplete or of an unknown kind");
  return m;
}

/** Reads the header and manifest of an open backup file; checks its length against the manifest. */
export function readBackupHead(fd: number): { manifest: BackupManifest; manifestBytes: Buffer; head: Buffer } {
  const head = readExactly(fd, HEADER_BYTES, "header");
  if (!head.subarray(0, 16).equals(BACKUP_MAGIC)) throw new BackupInvalidError("not a certvault backup file");
  const version = head.readUInt32BE(16);
  if (version !== BACKUP_FORMAT_VERSION)
    throw new BackupInvalidError(
      `backup format version ${version} is not one this certvault reads (${BACKUP_FORMAT_VERSION})`,
    );
  const length = head.readUInt32BE(20);
  if (length === 0 || length > MAX_MANIFEST_BYTES)
    throw new BackupInvalidError("the backup's manifest length is out of range (the file is damaged)");
  const manifestBytes = readExactly(fd, length, "manifest");
  const manifest = parseManifest(manifestBytes);
  const expected = HEADER_BYTES + length + manifest.database.bytes + DIGEST_BYTES;
  const size = fstatSync(fd).size;
  if (size !== expected)
    throw new BackupInvalidError(
      `the backup file is ${size} bytes where its manifest says ${expected} (truncated or extended)`,
    );
  return { manifest, manifestBytes, head };
}

/**
 * Copies the snapshot out of a backup file into `snapshotFd`, checking the snapshot's SHA-256 against the manifest
 * and the file's trailing digest. Throws BackupInvalidError on any mismatch (the caller discards what was written).
 */
export function extractBackup(path: string, snapshotFd: number): BackupManifest {
  const fd = openSync(path, "r");
  try {
    const { manifest, manifestBytes, head } = readBackupHead(fd);
    const whole = createHash("sha256").update(head).update(manifestBytes);
    const snap = createHash("sha256");
    const buf = Buffer.alloc(CHUNK);
    for (let left = manifest.database.bytes; left > 0;) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK, left), null);
      if (n === 0) throw new BackupInvalidError("the backup file is truncated (in its database snapshot)");
      const chunk = buf.subarray(0, n);
      whole.update(chunk);
      snap.update(chunk);
      let off = 0;
      while (off < n) off += writeSync(snapshotFd, chunk, off, n - off);
      left -= n;
    }
    const trailer = readExactly(fd, DIGEST_BYTES, "digest");
    if (!whole.digest().equals(trailer))
      throw new BackupInvalidError("the backup file's digest does not match its contents (damaged or altered)");
    if (snap.digest("hex") !== manifest.database.sha256)
      throw new BackupInvalidError("the database snapshot's SHA-256 does not match the manifest");
    fsyncSync(snapshotFd);
    return manifest;
  } finally {
    closeSync(fd);
  }
}
