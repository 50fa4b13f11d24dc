/**
 * Large envelopes are stored in chunks (migration 012, issue 17's memory row). An envelope of CHUNKED_FROM_BYTES or
 * more keeps an empty `records.envelope`, its chunk count in `records.chunks`, and its bytes in `record_chunks`, in
 * CHUNK_BYTES rows numbered from 0 and tagged with the record's version.
 *
 * Why: a BLOB of 10 MiB made SQLite and better-sqlite3 each allocate 10 MiB through malloc on every INSERT and SELECT
 * (the bound value, the record, the column, the driver's Buffer). glibc serves such blocks from its main heap once a
 * freed one has raised its mmap threshold, and keeps the heap it grew: bench/memory.ts saw `[heap]` grow 27 -> 89 MB
 * over 16 puts and 16 gets of 10 MiB and stay at 49 MB. A 64 KiB chunk is below glibc's default mmap threshold
 * (128 KiB), so each is served from, and returned to, the same small part of the heap; the whole envelope exists only
 * once, in pages of its own (policy/memory.ts), and goes back to the OS when released or collected.
 *
 * Consistency: a chunked read is one statement (records joined to its chunks at the record's version), so it reads
 * one snapshot on SQLite and on PostgreSQL; a writer replaces a record and its chunks in one transaction. What the
 * database hands back is checked before it becomes bytes: chunks numbered 0..n-1 with n the record's count, and their
 * lengths adding up to the record's size; anything else is an error (a 500), never a short or reordered envelope. The
 * envelope's own integrity is the client's to check (it is signed and sealed), as for any record.
 */
import { CertvaultError } from "../errors/index.js";
import { ownBuffer } from "../policy/memory.js";
import type { Knex } from "knex";
import { toNumber } from "./db.js";
import { sqliteStatement } from "./sqlite.js";

/** Envelopes of this size or more are stored in chunks (the size from which they get pages of their own). */
export const CHUNKED_FROM_BYTES = 1024 * 1024;
/** One chunk row: below glibc's default mmap threshold of 128 KiB (see above). */
export const CHUNK_BYTES = 64 * 1024;

export function isChunked(size: number): boolean {
  return size >= CHUNKED_FROM_BYTES;
}

/** The chunks of an envelope, as views of it (no copies). */
export function chunksOf(envelope: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < envelope.byteLength; at += CHUNK_BYTES)
    out.push(Buffer.from(envelope.buffer, envelope.byteOffset + at, Math.min(CHUNK_BYTES, envelope.byteLength - at)));
  return out;
}

const CHUNK_INSERT_SQL = "INSERT INTO record_chunks (record_id, version, seq, bytes) VALUES (?, ?, ?, ?)";

const CHUNK_COLUMNS =
  "SELECT c.seq, c.bytes, r.updated_at, r.version, r.size, r.chunks FROM records r " +
  "JOIN record_chunks c ON c.record_id = r.id AND c.version = r.version ";
/** A chunked record the identity may read (the rule of records.ts READABLE_SQL), its chunks in order. */
export const READABLE_CHUNKS_SQL =
  CHUNK_COLUMNS +
  "WHERE r.id = ? AND (r.owner = ? OR EXISTS (SELECT 1 FROM grants WHERE grants.record_id = r.id AND grantee = ?)) " +
  "ORDER BY c.seq";
/** A chunked record of the owner, its chunks in order. */
export const OWNED_CHUNKS_SQL = CHUNK_COLUMNS + "WHERE r.owner = ? AND r.id = ? ORDER BY c.seq";

/** One row of the statements above, as arrays in column order (SQLite's raw mode) or objects (PostgreSQL). */
export type ChunkTuple = [number | string, Buffer | Uint8Array, number | string, number | string, number, number];

interface ChunkRowObject {
  seq: number | string;
  bytes: Buffer | Uint8Array;
  updated_at: number | string;
  version: number | string;
  size: number | string;
  chunks: number | string;
}

function tupleOf(r: ChunkRowObject): ChunkTuple {
  return [r.seq, r.bytes, r.updated_at, r.version, toNumber(r.size), toNumber(r.chunks)];
}

export interface Assembled {
  envelope: Uint8Array;
  updatedAt: Date;
  version: number;
}

/**
 * The database's chunks do not make the record it describes: stored bytes were lost, added or rewritten. An
 * internal_error (500, the registry's fixed text to the client); the message, for the log, names the record only.
 */
export class ChunksInconsistentError extends CertvaultError {
  constructor(id: string, what: string) {
    super(`record ${id}: its stored chunks ${what}`);
  }
}

/**
 * The envelope from its chunk rows (null when there are none: the record is gone or no longer chunked). Checked before
 * anything is allocated, so that a size the database makes up costs nothing.
 */
export function assemble(id: string, rows: readonly ChunkTuple[]): Assembled | null {
  const first = rows[0];
  if (!first) return null;
  const [, , updatedAt, version, size, count] = first;
  if (rows.length !== count) throw new ChunksInconsistentError(id, `number ${rows.length}, not ${count}`);
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    if (toNumber(rows[i]![0]) !== i) throw new ChunksInconsistentError(id, `skip or repeat a number at ${i}`);
    total += rows[i]![1].byteLength;
  }
  if (total !== size || size < CHUNKED_FROM_BYTES)
    throw new ChunksInconsistentError(id, `hold ${total} bytes, not ${size}`);
  const out = ownBuffer(size);
  let at = 0;
  for (const [, bytes] of rows) {
    out.set(bytes, at);
    at += bytes.byteLength;
  }
  return { envelope: out, updatedAt: new Date(toNumber(updatedAt)), version: toNumber(version) };
}

/** The rows of READABLE_CHUNKS_SQL or OWNED_CHUNKS_SQL: one statement, so one snapshot, on either database. */
export async function chunkRows(db: Knex, sql: string, bindings: readonly string[]): Promise<ChunkTuple[]> {
  const prepared = await sqliteStatement<ChunkTuple[]>(db, "rows", sql, bindings);
  if (prepared) return prepared.value;
  const result = (await db.raw(sql, bindings)) as ChunkRowObject[] | { rows: ChunkRowObject[] };
  return (Array.isArray(result) ? result : result.rows).map(tupleOf);
}

/**
 * A chunked envelope's rows, one statement each (one 64 KiB value bound at a time). A chunk is never empty, unless
 * the buffer under it was released meanwhile (policy/memory.ts releaseOwnPages empties every view): then the
 * transaction fails, and nothing of the record is stored.
 */
export async function insertChunks(
  trx: Knex.Transaction,
  id: string,
  version: number,
  chunks: readonly Buffer[],
): Promise<void> {
  for (let seq = 0; seq < chunks.length; seq++) {
    if (chunks[seq]!.byteLength === 0) throw new Error("a record's bytes were released before they were written");
    await trx.raw(CHUNK_INSERT_SQL, [id, version, seq, chunks[seq]!]);
  }
}
