/**
 * The audit table. An append is one INSERT linked onto the tail the writer last wrote; seq is the primary key, so if
 * another writer got there first the INSERT is refused and the batch is linked again, inside a transaction that
 * reads the real tail. Two writers can never both commit the same seq: the chain cannot fork.
 */
import type { Knex } from "knex";
import type { Db } from "./db.js";
import { sqliteRun, toNumber } from "./db.js";
import { sqliteStatement } from "./sqlite.js";
import { GENESIS_HASH, link } from "../audit/chain.js";
import type { AuditEntry, AuditEvent, Checkpoint } from "../audit/chain.js";

interface EntryRow {
  seq: number | string;
  time: number | string;
  actor: string;
  serial: string | null;
  source: string | null;
  action: string;
  record_id: string | null;
  status: number;
  request_id: string | null;
  detail: string | null;
  prev_hash: string;
  hash: string;
}

function toRow(e: AuditEntry): EntryRow {
  return {
    seq: e.seq,
    time: e.time.getTime(),
    actor: e.actor,
    serial: e.serial ?? null,
    source: e.source ?? null,
    action: e.action,
    record_id: e.recordId ?? null,
    status: e.status,
    request_id: e.requestId ?? null,
    detail: e.detail ? JSON.stringify(e.detail) : null,
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

const COLUMNS = "seq, time, actor, serial, source, action, record_id, status, request_id, detail, prev_hash, hash";
const BETWEEN_SQL = `SELECT ${COLUMNS} FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq`;

/** A row read in raw mode, its values in COLUMNS order. */
function fromArray(a: unknown[]): AuditEntry {
  const [seq, time, actor, serial, source, action, recordId, status, requestId, detail, prevHash, hash] = a;
  return fromRow({
    seq,
    time,
    actor,
    serial,
    source,
    action,
    record_id: recordId,
    status,
    request_id: requestId,
    detail,
    prev_hash: prevHash,
    hash,
  } as EntryRow);
}

function fromRow(r: EntryRow): AuditEntry {
  return {
    seq: toNumber(r.seq),
    time: new Date(toNumber(r.time)),
    actor: r.actor,
    serial: r.serial,
    source: r.source,
    action: r.action,
    recordId: r.record_id,
    status: toNumber(r.status),
    requestId: r.request_id,
    detail: r.detail ? (JSON.parse(r.detail) as AuditEntry["detail"]) : null,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  from?: Date;
  to?: Date;
  minStatus?: number;
  limit: number;
}

const MAX_ATTEMPTS = 20;
/** 12 bound values per row: 500 rows stay far below SQLite's and PostgreSQL's limits on one statement. */
export const MAX_ROWS = 500;
const ROW_PLACEHOLDERS = `(${Array.from({ length: 12 }, () => "?").join(",")})`;

export class AuditRepository {
  constructor(private readonly db: Db) {}

  /**
   * Appends events in order; returns the linked entries. Throws if they cannot be written. With `knownTail` (the
   * caller's last appended entry) the batch is one INSERT statement, atomic on its own: if another writer got there
   * first, the primary key refuses it and the batch is linked again onto the real tail inside a transaction.
   */
  async append(events: readonly AuditEvent[], knownTail?: { seq: number; hash: string }): Promise<AuditEntry[]> {
    if (events.length > MAX_ROWS) throw new RangeError(`at most ${MAX_ROWS} audit entries per append`);
    if (knownTail) {
      const entries = link(events, knownTail.seq, knownTail.hash);
      try {
        await insertRows(this.db, entries);
        return entries;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    let lastErr: unknown;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        return await this.db.transaction(async (trx) => {
          const tail = await this.tail(trx);
          const entries = link(events, tail.seq, tail.hash);
          await insertRows(trx, entries);
          return entries;
        });
      } catch (err) {
        lastErr = err;
        if (!isConflict(err)) throw err;
        await new Promise((r) => setTimeout(r, 2 + Math.random() * 10 * (attempt + 1)));
      }
    }
    throw lastErr;
  }

  async tail(q: Db | Knex.Transaction = this.db): Promise<{ seq: number; hash: string }> {
    const row = (await q("audit_entries").orderBy("seq", "desc").first("seq", "hash")) as
      { seq: number | string; hash: string } | undefined;
    return row ? { seq: toNumber(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  /** Every entry in stored order (by seq), for verification. */
  async all(): Promise<AuditEntry[]> {
    return ((await this.db<EntryRow>("audit_entries").orderBy("seq", "asc")) as EntryRow[]).map(fromRow);
  }

  /**
   * Entries with after < seq <= upTo, by seq: every row in between, whatever its value (a REAL seq a database writer
   * planted included). On SQLite as arrays (the checkpoint signer reads every entry since the last checkpoint, ~3,000
   * a second under load: 7-14 ms for 3,000 this way against 21-53 ms through knex).
   */
  async between(after: number, upTo: number): Promise<AuditEntry[]> {
    const rows = await sqliteStatement<unknown[][]>(this.db, "rows", BETWEEN_SQL, [after, upTo]);
    if (rows) return rows.value.map(fromArray);
    return (
      (await this.db<EntryRow>("audit_entries")
        .where("seq", ">", after)
        .andWhere("seq", "<=", upTo)
        .orderBy("seq", "asc")) as EntryRow[]
    ).map(fromRow);
  }

  async since(time: Date): Promise<AuditEntry[]> {
    return (
      (await this.db<EntryRow>("audit_entries").where("time", ">=", time.getTime()).orderBy("seq", "asc")) as EntryRow[]
    ).map(fromRow);
  }

  /** Newest first, at most `limit`: the operator console's view (actor and action exact, time range, lowest status). */
  async search(f: AuditFilter): Promise<AuditEntry[]> {
    let q = this.db<EntryRow>("audit_entries");
    if (f.actor !== undefined) q = q.where("actor", f.actor);
    if (f.action !== undefined) q = q.where("action", f.action);
    if (f.from !== undefined) q = q.where("time", ">=", f.from.getTime());
    if (f.to !== undefined) q = q.where("time", "<=", f.to.getTime());
    if (f.minStatus !== undefined) q = q.where("status", ">=", f.minStatus);
    return ((await q.orderBy("seq", "desc").limit(f.limit)) as EntryRow[]).map(fromRow);
  }

  /** The distinct actions recorded (for the console's filter), at most `limit`. */
  async actions(limit = 200): Promise<string[]> {
    const rows = (await this.db("audit_entries").distinct("action").orderBy("action", "asc").limit(limit)) as {
      action: string;
    }[];
    return rows.map((r) => r.action);
  }

  async addCheckpoint(c: Checkpoint): Promise<void> {
    await this.db("audit_checkpoints")
      .insert({ seq: c.seq, hash: c.hash, time: c.time.getTime(), signature: c.signature })
      .onConflict("seq")
      .ignore();
  }

  async lastCheckpoint(): Promise<{ seq: number } | undefined> {
    const row = (await this.db("audit_checkpoints").orderBy("seq", "desc").first("seq")) as
      { seq: number | string } | undefined;
    return row ? { seq: toNumber(row.seq) } : undefined;
  }

  /** The newest signed checkpoint, if any. */
  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    const r = (await this.db("audit_checkpoints").orderBy("seq", "desc").first()) as
      { seq: number | string; hash: string; time: number | string; signature: string } | undefined;
    return r
      ? { seq: toNumber(r.seq), hash: r.hash, time: new Date(toNumber(r.time)), signature: r.signature }
      : undefined;
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const rows = (await this.db("audit_checkpoints").orderBy("seq", "asc")) as {
      seq: number | string;
      hash: string;
      time: number | string;
      signature: string;
    }[];
    return rows.map((r) => ({
      seq: toNumber(r.seq),
      hash: r.hash,
      time: new Date(toNumber(r.time)),
      signature: r.signature,
    }));
  }
}

/** One plain multi-row INSERT: the query builder's per-row work would be most of what an append costs. */
async function insertRows(q: Db | Knex.Transaction, entries: readonly AuditEntry[]): Promise<void> {
  const bindings: (string | number | null)[] = [];
  for (const e of entries) {
    const r = toRow(e);
    bindings.push(
      r.seq,
      r.time,
      r.actor,
      r.serial,
      r.source,
      r.action,
      r.record_id,
      r.status,
      r.request_id,
      r.detail,
      r.prev_hash,
      r.hash,
    );
  }
  const sql = `INSERT INTO audit_entries (${COLUMNS}) VALUES ${entries.map(() => ROW_PLACEHOLDERS).join(",")}`;
  // Outside a transaction on SQLite, straight to the driver: the statement is atomic on its own.
  if (!q.isTransaction && (await sqliteRun(q, sql, bindings))) return;
  await q.raw(sql, bindings);
}

function isConflict(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  // Another writer took the same seq (unique key) or holds the lock; anything else (a trigger, a full disk) is final.
  return (
    String(e.code ?? "").startsWith("SQLITE_BUSY") ||
    e.code === "23505" ||
    /UNIQUE constraint failed: audit_entries|SQLITE_BUSY/.test(e.message ?? "")
  );
}
