/**
 * SQLite through knex's `better-sqlite3` client: statements run synchronously on the main thread, in microseconds for
 * the small indexed reads and writes of a request (node-sqlite3 ran each on the libuv pool: three thread hand-offs and
 * 120-200 us of CPU per SELECT). What that changes, and how this file keeps it correct:
 *
 * - **Waiting for a lock blocks the event loop.** The CLI (`ca revoke`), a backup and other servers write the same
 *   file from other processes. SQLite's busy handler sleeps inside the statement, so `busy_timeout` is kept short
 *   (BUSY_WAIT_MS, the most one statement may stall every request of this process) and the rest of the wait is done
 *   here, asynchronously: a statement outside a transaction that still finds the lock taken is run again after a
 *   pause, and a whole transaction is rerun from its start (db.ts), until BUSY_BUDGET_MS have passed. SQLITE_BUSY
 *   means the statement changed nothing, so a rerun is safe.
 * - **Durability.** WAL with `synchronous = NORMAL`: a write is acknowledged once its commit is in the WAL file (the
 *   operating system's page cache), with no fsync per commit. It survives `kill -9` or a crash of the server process
 *   (test/faults/crash-durability.test.ts), not necessarily a power loss or kernel crash, which can lose the last
 *   commits before a checkpoint (the database stays consistent). PostgreSQL is the choice where that matters.
 */
import type { Knex } from "knex";
import { WAL_SIZE_LIMIT_BYTES } from "./wal-checkpointer.js";

/** The subset of a better-sqlite3 Database this code uses (the package ships no types). */
export interface SqliteHandle {
  pragma(source: string): unknown;
  prepare(sql: string): SqliteStatement;
  readonly inTransaction: boolean;
}

export interface SqliteStatement {
  get(bindings: readonly unknown[]): unknown;
  all(bindings: readonly unknown[]): unknown[];
  run(bindings: readonly unknown[]): { changes: number };
  raw(on: boolean): SqliteStatement;
}

/**
 * How long one statement waits inside SQLite for another process's lock, blocking this process meanwhile. 20 ms: a
 * revocation or an audit batch of another process holds the write lock for well under 1 ms (measured: a 50-row audit
 * INSERT commits in ~0.3 ms), so most waits end within it; longer ones are waited out in BUSY_RETRY pauses.
 */
export const BUSY_WAIT_MS = 20;
/** The whole wait for a lock before the request fails with 503 database_unavailable (as the old 5 s busy_timeout). */
export const BUSY_BUDGET_MS = 5_000;

export function isBusy(err: unknown): boolean {
  return String((err as { code?: unknown }).code ?? "").startsWith("SQLITE_BUSY");
}

/** A jittered pause before attempt `attempt + 1`: 2-5 ms growing to 50 ms. */
export function busyPause(attempt: number): Promise<void> {
  const ms = Math.min(50, 2 * attempt) + Math.random() * 3;
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The pragmas of every connection of the server's database, busy_timeout first (the rest may need the lock).
 * `autocheckpointPages`: where a worker checkpoints the WAL (wal-checkpointer.ts), this connection does so itself
 * only past that many pages; otherwise SQLite's default, 1,000.
 */
export function configureConnection(conn: SqliteHandle, autocheckpointPages?: number): void {
  conn.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
  conn.pragma("journal_mode = WAL");
  conn.pragma("synchronous = NORMAL");
  conn.pragma("foreign_keys = ON");
  if (autocheckpointPages !== undefined) {
    conn.pragma(`wal_autocheckpoint = ${autocheckpointPages}`);
    conn.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  }
}

type QueryFn = (conn: SqliteHandle, obj: unknown) => Promise<unknown>;

/**
 * Statements outside a transaction that find the lock taken are run again after a pause, within BUSY_BUDGET_MS. Inside
 * a transaction the error goes up: the transaction is rolled back and rerun from its start (db.ts).
 */
export function retryBusyStatements(db: Knex): void {
  const client = db.client as { _query: QueryFn };
  const original = client._query.bind(client);
  client._query = (conn, obj) => withBusyRetry(conn, () => original(conn, obj));
}

async function withBusyRetry<T>(conn: SqliteHandle, run: () => T | Promise<T>): Promise<T> {
  const start = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isBusy(err) || conn.inTransaction || Date.now() - start >= BUSY_BUDGET_MS) throw err;
      await busyPause(attempt);
    }
  }
}

const statements = new WeakMap<SqliteHandle, Map<string, SqliteStatement>>();

/** `raw`: rows as arrays in column order (better-sqlite3's raw mode, a statement of its own). */
function prepared(conn: SqliteHandle, sql: string, raw = false): SqliteStatement {
  let cache = statements.get(conn);
  if (!cache) statements.set(conn, (cache = new Map()));
  const key = raw ? `raw:${sql}` : sql;
  let st = cache.get(key);
  if (!st) cache.set(key, (st = raw ? conn.prepare(sql).raw(true) : conn.prepare(sql)));
  return st;
}

interface Pool {
  acquireConnection(): Promise<SqliteHandle>;
  releaseConnection(c: SqliteHandle): Promise<void>;
}

/** The part of tarn's pool (knex's `client.pool`) that tells whether its one connection is free. */
interface TarnPool {
  destroyed: boolean;
  free: { resource: SqliteHandle & { readonly open?: boolean } }[];
  numUsed(): number;
  numPendingAcquires(): number;
  numPendingValidations(): number;
  numPendingCreates(): number;
}

/**
 * SQLite's one pooled connection when nobody holds it or waits for it, so that a statement can run on it at once
 * instead of through the pool. Every query, transaction and migration of knex takes the connection from tarn's
 * pool, and tarn moves it between its `free` and `used` lists synchronously (acquire, release, and the hand-over to
 * a waiting acquire inside release), so its own counts are exact at every moment; nothing here counts on its own
 * (a counter of ours drifted: knex's stream() releases twice). A statement run then is synchronous: nothing else can
 * take the connection before it ends, and it can never land inside another caller's transaction
 * (test/store/sqlite-idle-connection.test.ts). What it saves: tarn's acquire (a PendingOperation with its 5 s
 * timeout timer, two promise chains) and release, 5-10 us of CPU per statement (measured: 50,000 acquire+release
 * pairs alone, against ~5 us for a whole indexed SELECT on this path).
 */
function idleConnection(db: Knex): SqliteHandle | undefined {
  const pool = (db.client as { pool?: TarnPool }).pool;
  if (
    !pool ||
    pool.destroyed ||
    pool.free.length !== 1 ||
    pool.numUsed() + pool.numPendingAcquires() + pool.numPendingValidations() + pool.numPendingCreates() !== 0
  )
    return undefined;
  const conn = pool.free[0]?.resource;
  // `open` is better-sqlite3's own flag; a connection inside a transaction is never idle, whoever left it so.
  return conn?.open === true && !conn.inTransaction ? conn : undefined;
}

export function isSqlite(db: Knex | Knex.Transaction): boolean {
  return db.client.config.client === "better-sqlite3";
}

/**
 * One statement on SQLite's one connection, prepared once per connection, without the query builder; `undefined`
 * on PostgreSQL (the caller goes through knex). For the statements of every request: knex's builder, compiler and
 * runner cost more than the statement itself (measured in store/records.ts). `undefined` on a transaction handle too.
 * When the connection is idle the statement runs on it at once (idleConnection); when it is held, or the lock
 * is taken by another process, through the pool, waiting as retryBusyStatements does.
 */
export async function sqliteStatement<T>(
  db: Knex,
  mode: "get" | "row" | "run" | "rows",
  sql: string,
  bindings: readonly unknown[],
): Promise<{ value: T } | undefined> {
  // A transaction handle goes through knex: its statements must run on the transaction's connection.
  if (!isSqlite(db) || (db as Knex.Transaction).isTransaction) return undefined;
  const now = idleConnection(db);
  if (now) {
    try {
      return { value: runPrepared<T>(now, mode, sql, bindings) };
    } catch (err) {
      // SQLITE_BUSY changed nothing: wait for the lock below, without blocking the event loop.
      if (!isBusy(err)) throw err;
    }
  }
  const pool = db.client as unknown as Pool;
  const conn = await pool.acquireConnection();
  try {
    return { value: await withBusyRetry(conn, () => runPrepared<T>(conn, mode, sql, bindings)) };
  } finally {
    await pool.releaseConnection(conn);
  }
}

/**
 * "rows": every row, as arrays (raw mode). For reads of many rows: better-sqlite3 builds a named object per row
 * slowly; 3,000 audit entries took 19-37 ms as objects and 7-14 ms as arrays on this machine. "row": the first row as
 * an array, for a hot single-row read: building the named object was 35 % of a record GET's SELECT under load
 * (perf, session 11; the SELECT itself 36 %, releasing its read lock 18 %).
 */
function runPrepared<T>(
  conn: SqliteHandle,
  mode: "get" | "row" | "run" | "rows",
  sql: string,
  bindings: readonly unknown[],
): T {
  if (mode === "rows") return prepared(conn, sql, true).all(bindings) as T;
  if (mode === "row") return prepared(conn, sql, true).get(bindings) as T;
  const st = prepared(conn, sql);
  return (mode === "get" ? st.get(bindings) : st.run(bindings)) as T;
}

/** One statement of a sqliteTransaction body: "get" one row, "all" rows, or "run" a write. */
export type SyncStatement = (mode: "get" | "all" | "run", sql: string, bindings: readonly unknown[]) => unknown;

/**
 * A write transaction of prepared statements run at once on the idle connection: BEGIN IMMEDIATE, the body, COMMIT,
 * all synchronous, so nothing else can use the connection meanwhile. `undefined` when it cannot run so (PostgreSQL,
 * a transaction handle, the connection held by a knex caller, or the write lock taken by another process, in which
 * case nothing was written): the caller then runs the same work through knex's transaction, which waits. The body
 * must not await; `open()` tells whether the transaction is still open (a failed statement can end it: SQLite rolls
 * back the whole transaction on some errors, and a trigger's RAISE(ROLLBACK) does). For the anomaly rules' counter flushes (store/rule-counters.ts): through knex, a flush's four
 * statements (BEGIN, upsert, select, COMMIT) cost ~23 us of CPU per request at c=50 (knex's runner and a fresh
 * prepare of each statement), more than the statements themselves.
 */
export function sqliteTransaction<T>(
  db: Knex,
  body: (statement: SyncStatement, open: () => boolean) => T,
): T | undefined {
  if (!isSqlite(db) || (db as Knex.Transaction).isTransaction) return undefined;
  const conn = idleConnection(db);
  if (!conn) return undefined;
  try {
    prepared(conn, "BEGIN IMMEDIATE").run([]);
  } catch (err) {
    if (isBusy(err)) return undefined;
    throw err;
  }
  try {
    const result = body(
      (mode, sql, bindings) => {
        const st = prepared(conn, sql);
        return mode === "get" ? st.get(bindings) : mode === "all" ? st.all(bindings) : st.run(bindings);
      },
      () => conn.inTransaction,
    );
    prepared(conn, "COMMIT").run([]);
    return result;
  } catch (err) {
    if (conn.inTransaction) prepared(conn, "ROLLBACK").run([]);
    throw err;
  }
}
