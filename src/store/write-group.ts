/**
 * Group commit of one-statement writes on SQLite (issue 17): the record INSERTs of concurrent requests that arrive in
 * the same turn of the event loop run in one transaction on the idle connection (sqlite.ts sqliteTransaction), and
 * each request is answered after that COMMIT, as the audit writer does for its entries (audit/audit-log.ts).
 *
 * Why: each INSERT committed alone appended its pages to the WAL (two pwrite calls) and took and released the WAL's
 * locks (fcntl), ~14 % of the server's CPU on a client-sealed POST at c=50 (perf, docs/performance.md). One COMMIT
 * for the batch writes each touched page once.
 *
 * What stays as it was:
 * - **Acknowledged = committed.** A caller's promise resolves only after the COMMIT that holds its row.
 * - **One statement's failure is its own.** SQLite rolls back a statement that breaks a constraint and leaves the
 *   transaction open, so a taken id fails that request alone (the caller sees the driver's error, as before). A
 *   constraint failure that ended the transaction (a trigger's RAISE(ROLLBACK)) is handled as the next case.
 * - **Any other failure falls back.** A statement's error that is not a constraint (a full disk, an I/O error), or a
 *   COMMIT that fails, rolls back the whole batch (nothing of it was written), and every statement of it then runs
 *   alone, as it did before this file, so each caller hears its own outcome. So does a batch that cannot run at once
 *   (the connection is held by a knex caller, or another process holds the write lock).
 * - PostgreSQL: not used (`run` returns undefined); its writes go through knex as before.
 */
import type { Knex } from "knex";
import { isSqlite, sqliteStatement, sqliteTransaction } from "./sqlite.js";

interface Pending {
  sql: string;
  bindings: readonly unknown[];
  /** The bound bytes when queued: a buffer released meanwhile (policy/memory.ts releaseOwnPages) is refused. */
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Rows per transaction; bytes bound it too, so that a burst of 10 MiB uploads does not become one huge commit. */
const MAX_STATEMENTS = 128;
const MAX_BYTES = 16 * 1024 * 1024;

function isConstraint(err: unknown): boolean {
  return String((err as { code?: unknown }).code ?? "").startsWith("SQLITE_CONSTRAINT");
}

function sizeOf(bindings: readonly unknown[]): number {
  let n = 0;
  for (const b of bindings) n += b instanceof Uint8Array ? b.byteLength : typeof b === "string" ? b.length : 8;
  return n;
}

export class SqliteWriteGroup {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly db: Knex) {}

  /** Runs `sql` in the next group; undefined on PostgreSQL and on a transaction handle (the caller uses knex). */
  run(sql: string, bindings: readonly unknown[]): Promise<void> | undefined {
    if (!isSqlite(this.db) || (this.db as Knex.Transaction).isTransaction) return undefined;
    return new Promise((resolve, reject) => {
      this.queue.push({ sql, bindings, bytes: sizeOf(bindings), resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // The end of this turn of the event loop: every request whose bytes came in the same poll phase joins.
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Synchronous to the end: a batch that did not commit hands each statement to `alone` without waiting, so each
   * waits for the lock or the connection with its own budget (BUSY_BUDGET_MS, ACQUIRE_TIMEOUT_MS) from now, and the
   * batches behind it are not held up (one after another, the k-th waited k budgets: found by the attack review).
   */
  private flush(): void {
    while (this.queue.length > 0) {
      const batch = this.take().filter((p) => this.unchanged(p));
      if (batch.length > 0 && !this.together(batch)) for (const p of batch) void this.alone(p);
    }
    this.scheduled = false;
  }

  /** The next batch: at most MAX_STATEMENTS, and MAX_BYTES unless its first statement alone is larger. */
  private take(): Pending[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < MAX_STATEMENTS) {
      const next = this.queue[n]!.bytes;
      if (n > 0 && bytes + next > MAX_BYTES) break;
      bytes += next;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private unchanged(p: Pending): boolean {
    if (sizeOf(p.bindings) === p.bytes) return true;
    p.reject(new Error("a queued write's bytes were released before it ran"));
    return false;
  }

  /** The batch in one transaction; false when it did not commit (nothing of it was written, no caller answered). */
  private together(batch: Pending[]): boolean {
    const failed = new Map<Pending, unknown>();
    let committed: boolean;
    try {
      committed =
        sqliteTransaction(this.db, (statement, open) => {
          for (const p of batch) {
            try {
              statement("run", p.sql, p.bindings);
            } catch (err) {
              // A constraint's failure that ended the transaction (a trigger's RAISE(ROLLBACK)) took the others' rows too.
              if (!isConstraint(err) || !open()) throw err;
              failed.set(p, err);
            }
          }
          return true;
        }) === true;
    } catch {
      committed = false; // rolled back: each statement runs alone and hears its own outcome
    }
    if (!committed) return false;
    for (const p of batch) {
      const err = failed.get(p);
      if (err === undefined) p.resolve();
      else p.reject(err);
    }
    return true;
  }

  private async alone(p: Pending): Promise<void> {
    try {
      // Never undefined here: run() took only SQLite and no transaction handle.
      if (!(await sqliteStatement(this.db, "run", p.sql, p.bindings))) throw new Error("not a SQLite database");
      p.resolve();
    } catch (err) {
      p.reject(err);
    }
  }
}
