/**
 * Records: sealed envelopes and their metadata. Every query that reads or changes a record names its owner in the
 * WHERE clause, so one identity can never reach another's rows, whatever the caller passes as id.
 */
import type { Knex } from "knex";
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
import {
  ChunksInconsistentError,
  OWNED_CHUNKS_SQL,
  READABLE_CHUNKS_SQL,
  assemble,
  chunkRows,
  chunksOf,
  insertChunks,
  isChunked,
} from "./record-chunks.js";
import { sqliteStatement } from "./sqlite.js";
import { SqliteWriteGroup } from "./write-group.js";

type Found = { envelope: Uint8Array; updatedAt: Date; version: number } | null;
type EnvelopeRow = Pick<Row, "envelope" | "updated_at" | "version" | "chunks">;

/**
 * The driver's Buffer, viewed rather than copied when it owns its memory: better-sqlite3 copies each BLOB into a
 * Buffer of its own, and pg's bytea parser (Buffer.from(hex)) does for all but small values, which may sit in node's
 * shared pool of small Buffers and are copied (callers may use `.buffer`). `new Uint8Array(row.envelope)` copied a
 * 10 MiB envelope once more on every GET: a third 10 MiB copy per read in flight (issue 17, bench/memory.ts).
 */
function bytes(b: Buffer | Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.buffer.byteLength === b.byteLength
    ? new Uint8Array(b.buffer, 0, b.byteLength)
    : new Uint8Array(b);
}

/** The columns of READABLE_SQL and OWNED_SQL, in order, as the driver's raw mode returns them (store/sqlite.ts "row"). */
type EnvelopeTuple = [Buffer | Uint8Array, number | string, number, number];

function rowOf(t: EnvelopeTuple | undefined): EnvelopeRow | undefined {
  return t && { envelope: t[0], updated_at: t[1], version: t[2], chunks: t[3] };
}

/** A chunked record read again from the start at most this often when it changed between its two statements. */
const CHUNKED_READ_ATTEMPTS = 3;
const EMPTY = Buffer.alloc(0);

/**
 * A record kept in its row. Its envelope is never empty (a CMS envelope has bytes): an empty one is the row of a
 * chunked record whose count the database set to 0, refused rather than answered as a record of no bytes
 * (found by the attack review).
 */
function found(id: string, row: EnvelopeRow | undefined): Found {
  if (!row?.envelope) return null;
  if (row.envelope.byteLength === 0) throw new ChunksInconsistentError(id, "are missing: its row holds no bytes");
  return {
    envelope: bytes(row.envelope),
    updatedAt: new Date(toNumber(row.updated_at)),
    version: toNumber(row.version),
  };
}

// The statements of every record GET and POST, prepared once on SQLite (store/sqlite.ts). Measured in-process on this
// machine under load (better-sqlite3, 1.3 KB envelope, 5,000 awaited calls): getReadable 250-320 us through the
// query builder (its nested orWhereExists is costly to build and compile), 23-41 us prepared.
const READABLE_SQL =
  "SELECT envelope, updated_at, version, chunks FROM records WHERE id = ? AND (owner = ? OR EXISTS " +
  "(SELECT 1 FROM grants WHERE grants.record_id = records.id AND grantee = ?)) LIMIT 1";
const OWNED_SQL = "SELECT envelope, updated_at, version, chunks FROM records WHERE owner = ? AND id = ? LIMIT 1";
const INSERT_SQL =
  "INSERT INTO records (id, owner, envelope, size, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, 1)";

interface Replacement {
  id: string;
  owner: string;
  envelope: Uint8Array;
  now: Date;
  expectedVersion?: number;
}

export interface RecordMeta {
  id: string;
  size: number;
  createdAt: Date;
  updatedAt: Date;
}

interface Row {
  id: string;
  owner: string;
  envelope?: Buffer | Uint8Array;
  size: number;
  created_at: number | string;
  updated_at: number | string;
  version: number;
  chunks: number | string;
}

function meta(r: Row): RecordMeta {
  return {
    id: r.id,
    size: r.size,
    createdAt: new Date(toNumber(r.created_at)),
    updatedAt: new Date(toNumber(r.updated_at)),
  };
}

export class RecordRepository {
  /** New records' INSERTs, group-committed on SQLite (write-group.ts). */
  private readonly inserts: SqliteWriteGroup;

  constructor(private readonly db: Db) {
    this.inserts = new SqliteWriteGroup(db);
  }

  /** Inserts a record under an id nobody holds; false when the id is taken (by anyone: ids are global). */
  async insertNew(p: { id: string; owner: string; envelope: Uint8Array; now: Date }): Promise<boolean> {
    try {
      await this.insert(p);
      return true;
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? "");
      // SQLite: SQLITE_CONSTRAINT (primary key); PostgreSQL: 23505 unique_violation.
      if (code.startsWith("SQLITE_CONSTRAINT") || code === "23505") return false;
      throw err;
    }
  }

  async insert(p: { id: string; owner: string; envelope: Uint8Array; now: Date }): Promise<void> {
    if (isChunked(p.envelope.byteLength)) return this.insertChunked(p);
    const envelope = Buffer.from(p.envelope.buffer, p.envelope.byteOffset, p.envelope.byteLength);
    const t = p.now.getTime();
    const grouped = this.inserts.run(INSERT_SQL, [p.id, p.owner, envelope, envelope.byteLength, t, t]);
    if (grouped) return grouped;
    await this.db("records").insert({
      id: p.id,
      owner: p.owner,
      envelope,
      size: p.envelope.byteLength,
      created_at: p.now.getTime(),
      updated_at: p.now.getTime(),
      version: 1,
    });
  }

  /** A record of `owner`. */
  async getEnvelope(owner: string, id: string): Promise<Found> {
    const row = (): Promise<EnvelopeRow | undefined> => this.ownedRow(owner, id);
    const r = await row();
    return !r || toNumber(r.chunks) === 0 ? found(id, r) : this.whole(id, OWNED_CHUNKS_SQL, [owner, id], row);
  }

  /** A record the identity may read: its own, or one shared with it (the rule is in the query, not after it). */
  async getReadable(identity: string, id: string): Promise<Found> {
    // The hot path (a record GET) is the first statement alone, as before chunks: one prepared SELECT on SQLite.
    const r = await this.readableRow(identity, id);
    if (!r || toNumber(r.chunks) === 0) return found(id, r);
    return this.whole(id, READABLE_CHUNKS_SQL, [id, identity, identity], () => this.readableRow(identity, id));
  }

  private async ownedRow(owner: string, id: string): Promise<EnvelopeRow | undefined> {
    const prepared = await sqliteStatement<EnvelopeTuple | undefined>(this.db, "row", OWNED_SQL, [owner, id]);
    if (prepared) return rowOf(prepared.value);
    return (await this.db<Row>("records").where({ owner, id }).first("envelope", "updated_at", "version", "chunks")) as
      EnvelopeRow | undefined;
  }

  private async readableRow(identity: string, id: string): Promise<EnvelopeRow | undefined> {
    const prepared = await sqliteStatement<EnvelopeTuple | undefined>(this.db, "row", READABLE_SQL, [
      id,
      identity,
      identity,
    ]);
    if (prepared) return rowOf(prepared.value);
    return (await this.db<Row>("records")
      .where({ id })
      .andWhere((q) => {
        void q
          .where({ owner: identity })
          .orWhereExists(this.db("grants").whereRaw("grants.record_id = records.id").andWhere({ grantee: identity }));
      })
      .first("envelope", "updated_at", "version", "chunks")) as EnvelopeRow | undefined;
  }

  /**
   * A chunked record whose row was just read: its chunks, read by `chunksSql` (the row's rule again, one statement,
   * one snapshot). When they are gone the record changed between the two statements (deleted, or rewritten small):
   * its row is read again (`row`), at most CHUNKED_READ_ATTEMPTS times in all.
   */
  private async whole(
    id: string,
    chunksSql: string,
    bindings: readonly string[],
    row: () => Promise<EnvelopeRow | undefined>,
  ): Promise<Found> {
    for (let attempt = 1; ; attempt++) {
      const assembled = assemble(id, await chunkRows(this.db, chunksSql, bindings));
      if (assembled) return assembled;
      if (attempt === CHUNKED_READ_ATTEMPTS) throw new ChunksInconsistentError(id, "are missing");
      const r = await row();
      if (!r || toNumber(r.chunks) === 0) return found(id, r);
    }
  }

  /** A large envelope: the record's row and its chunks in one transaction (record-chunks.ts). */
  private async insertChunked(p: { id: string; owner: string; envelope: Uint8Array; now: Date }): Promise<void> {
    const chunks = chunksOf(p.envelope);
    const t = p.now.getTime();
    await this.db.transaction(async (trx) => {
      await trx("records").insert({
        id: p.id,
        owner: p.owner,
        envelope: EMPTY,
        size: p.envelope.byteLength,
        created_at: t,
        updated_at: t,
        version: 1,
        chunks: chunks.length,
      });
      await insertChunks(trx, p.id, 1, chunks);
    });
  }

  /** The identities a record of `owner` is shared with. */
  async grantees(owner: string, id: string): Promise<string[]> {
    return (await this.grants(owner, id)).map((g) => g.grantee);
  }

  /** The grants of a record of `owner`, with the owner's signed statement (null for grants stored before them). */
  async grants(owner: string, id: string): Promise<{ grantee: string; statement: Uint8Array | null }[]> {
    const rows = (await this.db("grants")
      .join("records", "records.id", "grants.record_id")
      .where({ "records.id": id, "records.owner": owner })
      .orderBy("grantee")
      .select("grantee", "statement")) as { grantee: string; statement: Buffer | Uint8Array | null }[];
    return rows.map((r) => ({ grantee: r.grantee, statement: r.statement ? new Uint8Array(r.statement) : null }));
  }

  /**
   * Records (or removes) a grant on a record of `owner`, only while the record is still at `version`, the version
   * whose envelope was checked: a concurrent rewrite cannot slip in between the check and the grant.
   */
  async setGrant(p: {
    owner: string;
    id: string;
    grantee: string;
    version: number;
    grant: boolean;
    now: Date;
    statement?: Uint8Array;
  }): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const row = await trx("records").where({ owner: p.owner, id: p.id, version: p.version }).first("id");
      if (!row) return false;
      const statement = p.statement
        ? Buffer.from(p.statement.buffer, p.statement.byteOffset, p.statement.byteLength)
        : null;
      if (p.grant)
        await trx("grants")
          .insert({ record_id: p.id, grantee: p.grantee, granted_at: p.now.getTime(), statement })
          .onConflict(["record_id", "grantee"])
          .merge(["statement", "granted_at"]);
      else await trx("grants").where({ record_id: p.id, grantee: p.grantee }).delete();
      return true;
    });
  }

  async version(owner: string, id: string): Promise<number | null> {
    const row = (await this.db<Row>("records").where({ owner, id }).first("version")) as
      Pick<Row, "version"> | undefined;
    return row ? toNumber(row.version) : null;
  }

  /**
   * Replaces the envelope; with `expectedVersion`, only if the record still has that version (compare-and-swap, so
   * a concurrent writer is never silently overwritten). Returns false when nothing matched.
   */
  async replace(p: Replacement): Promise<boolean> {
    const chunks = isChunked(p.envelope.byteLength) ? chunksOf(p.envelope) : [];
    // A small record replacing a small one: one statement, as before chunks. Anything else (or a record that turns
    // out to be chunked: `chunks = 0` matched nothing) in a transaction that replaces its chunks too.
    if (chunks.length === 0 && (await this.replaceRow(this.db, p, [], { chunks: 0 })) > 0) return true;
    return this.db.transaction(async (trx) => {
      if ((await this.replaceRow(trx, p, chunks)) === 0) return false;
      // The replaced version's chunks go in the same transaction; the new ones carry the new version.
      await trx("record_chunks").where({ record_id: p.id }).delete();
      if (chunks.length > 0) {
        const row = (await trx("records").where({ id: p.id }).first("version")) as { version: number | string };
        await insertChunks(trx, p.id, toNumber(row.version), chunks);
      }
      return true;
    });
  }

  /** The UPDATE of a replacement: the rows it changed (0 or 1). */
  private replaceRow(db: Knex, p: Replacement, chunks: readonly Buffer[], where: object = {}): Promise<number> {
    const version = p.expectedVersion === undefined ? {} : { version: p.expectedVersion };
    const bytes = Buffer.from(p.envelope.buffer, p.envelope.byteOffset, p.envelope.byteLength);
    return db("records")
      .where({ owner: p.owner, id: p.id, ...version, ...where })
      .update({
        envelope: chunks.length > 0 ? EMPTY : bytes,
        size: p.envelope.byteLength,
        chunks: chunks.length,
        updated_at: p.now.getTime(),
        version: this.db.raw("version + 1"),
      });
  }

  async delete(owner: string, id: string): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const n = await trx("records").where({ owner, id }).delete();
      if (n > 0) await trx("grants").where({ record_id: id }).delete();
      if (n > 0) await trx("record_chunks").where({ record_id: id }).delete();
      return n > 0;
    });
  }

  /** One page in (createdAt, id) order, starting strictly after the cursor position. */
  async page(owner: string, limit: number, after: { createdAt: number; id: string } | null): Promise<RecordMeta[]> {
    const q = this.db<Row>("records").where({ owner }).select("id", "size", "created_at", "updated_at");
    if (after) {
      q.andWhere((w) => {
        void w.where("created_at", ">", after.createdAt).orWhere((w2) => {
          void w2.where("created_at", "=", after.createdAt).andWhere("id", ">", after.id);
        });
      });
    }
    const rows = (await q.orderBy([{ column: "created_at" }, { column: "id" }]).limit(limit)) as Row[];
    return rows.map(meta);
  }
}
