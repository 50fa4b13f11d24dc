/**
 * The audit table. Appends happen in one transaction that reads the chain's tail and links the new entries onto it;
 * seq is the primary key, so two writers that raced for the same tail cannot both commit, and the loser retries.
 */
import type { Knex } from "knex";
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
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

const MAX_ATTEMPTS = 20;

export class AuditRepository {
  constructor(private readonly db: Db) {}

  /** Appends events in order as one transaction; returns the linked entries. Throws if they cannot be written. */
  async append(events: readonly AuditEvent[]): Promise<AuditEntry[]> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        return await this.db.transaction(async (trx) => {
          const tail = await this.tail(trx);
          const entries = link(events, tail.seq, tail.hash);
          // SQLite caps bound variables per statement; 12 columns x 50 rows stays far below it.
          for (let i = 0; i < entries.length; i += 50) await trx("audit_entries").insert(entries.slice(i, i + 50).map(toRow));
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
    const row = (await q("audit_entries").orderBy("seq", "desc").first("seq", "hash")) as { seq: number | string; hash: string } | undefined;
    return row ? { seq: toNumber(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  /** Every entry in stored order (by seq), for verification. */
  async all(): Promise<AuditEntry[]> {
    return ((await this.db<EntryRow>("audit_entries").orderBy("seq", "asc")) as EntryRow[]).map(fromRow);
  }

  async since(time: Date): Promise<AuditEntry[]> {
    return ((await this.db<EntryRow>("audit_entries").where("time", ">=", time.getTime()).orderBy("seq", "asc")) as EntryRow[]).map(fromRow);
  }

  async addCheckpoint(c: Checkpoint): Promise<void> {
    await this.db("audit_checkpoints").insert({ seq: c.seq, hash: c.hash, time: c.time.getTime(), signature: c.signature }).onConflict("seq").ignore();
  }

  async lastCheckpoint(): Promise<{ seq: number } | undefined> {
    const row = (await this.db("audit_checkpoints").orderBy("seq", "desc").first("seq")) as { seq: number | string } | undefined;
    return row ? { seq: toNumber(row.seq) } : undefined;
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const rows = (await this.db("audit_checkpoints").orderBy("seq", "asc")) as { seq: number | string; hash: string; time: number | string; signature: string }[];
    return rows.map((r) => ({ seq: toNumber(r.seq), hash: r.hash, time: new Date(toNumber(r.time)), signature: r.signature }));
  }
}

function isConflict(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  // Another writer took the same seq (unique key) or holds the lock; anything else (a trigger, a full disk) is final.
  return e.code === "SQLITE_BUSY" || e.code === "23505" || /UNIQUE constraint failed: audit_entries|SQLITE_BUSY/.test(e.message ?? "");
}
