/**
 * Opening the database: SQLite file (embedded default) or a PostgreSQL URL, both through knex, migrated to the latest
 * schema on open. Dialect differences stay in this folder.
 */
import knexFactory from "knex";
import type { Knex } from "knex";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { migrationSource } from "./migrations.js";
import { SAFETY_AUTOCHECKPOINT_PAGES, startWalCheckpointer } from "./wal-checkpointer.js";
import {
  BUSY_BUDGET_MS,
  busyPause,
  configureConnection,
  isBusy,
  retryBusyStatements,
  sqliteStatement,
} from "./sqlite.js";
import type { SqliteHandle } from "./sqlite.js";

export type Db = Knex;

export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//.test(target);
}

/**
 * How long a query may wait for a connection (pool slot, or a new connection to PostgreSQL) before it fails with
 * 503 database_unavailable: the bound on a request while the database is away (docs/operations.md "When the database goes away or fills up").
 */
export const ACQUIRE_TIMEOUT_MS = 5_000;

export interface OpenOptions {
  /**
   * The server's database: SQLite's WAL checkpoints run on a worker thread (store/wal-checkpointer.ts), stopped by
   * db.destroy(); `onError` hears a checkpoint that failed (once per kind of error).
   */
  walCheckpointer?: { onError(code: string): void };
}

export async function openDatabase(target: string, opts: OpenOptions = {}): Promise<Db> {
  let db: Knex;
  if (isPostgresUrl(target)) {
    db = knexFactory({
      client: "pg",
      // connectionTimeoutMillis bounds a connect to a host that does not answer; keepAlive finds a dead peer on an idle connection.
      connection: { connectionString: target, connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS, keepAlive: true },
      pool: { min: 0, max: 10 },
      acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
      compileSqlOnError: false,
    });
  } else {
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    db = knexFactory({
      client: "better-sqlite3",
      connection: { filename: target },
      // Errors carry the SQL with placeholders, never the bound values (identities, ciphertext, audit fields).
      compileSqlOnError: false,
      useNullAsDefault: true,
      acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
      // One connection: SQLite serialises writers anyway, and a single handle keeps transactions simple. Pragmas
      // (WAL, a short busy_timeout, synchronous = NORMAL): store/sqlite.ts says what each means here.
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: SqliteHandle, done: (err: Error | null, conn: unknown) => void) {
          try {
            configureConnection(conn, opts.walCheckpointer ? SAFETY_AUTOCHECKPOINT_PAGES : undefined);
            done(null, conn);
          } catch (err) {
            done(err as Error, conn);
          }
        },
      },
    });
    retryBusyStatements(db);
    retryBusyTransactions(db);
  }
  await db.migrate.latest({ migrationSource, tableName: "knex_migrations" });
  // An in-memory database is the connection's own: another connection would open an empty one.
  if (opts.walCheckpointer && !isPostgresUrl(target) && target !== ":memory:")
    checkpointInWorker(db, resolve(target), opts.walCheckpointer.onError);
  return db;
}

/** Starts the worker once the file exists (after the migrations); db.destroy() stops it first. */
function checkpointInWorker(db: Knex, file: string, onError: (code: string) => void): void {
  const checkpointer = startWalCheckpointer(file, { onError });
  const destroy = db.destroy.bind(db) as () => Promise<void>;
  Object.defineProperty(db, "destroy", {
    value: async () => {
      await checkpointer.close();
      await destroy();
    },
    configurable: true,
  });
}

/**
 * A deferred SQLite transaction that has read cannot become a writer once another process (the CLI's `ca revoke`,
 * a backup) committed since its snapshot: SQLITE_BUSY at once, which busy_timeout does not wait out
 * (SQLITE_BUSY_SNAPSHOT; the soak saw it as one 503 in 15,000 operations); and a statement that waited BUSY_WAIT_MS
 * for the lock gives up with SQLITE_BUSY too. Every transaction is run again from its start after a short jittered
 * pause, until BUSY_BUDGET_MS have passed: their bodies only read and write this database (store/*.ts), so a rerun is
 * the same transaction on a newer snapshot.
 */
function retryBusyTransactions(db: Knex): void {
  const original = db.transaction.bind(db) as (fn?: unknown, config?: unknown) => unknown;
  const retrying = async (fn: unknown, config: unknown): Promise<unknown> => {
    const start = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await (original(fn, config) as Promise<unknown>);
      } catch (err) {
        if (!isBusy(err) || Date.now() - start >= BUSY_BUDGET_MS) throw err;
        await busyPause(attempt);
      }
    }
  };
  // Only the callback form runs a body that can be rerun; db.transaction() without one hands out a provider.
  // knex defines it non-writable but configurable.
  Object.defineProperty(db, "transaction", {
    value: (fn?: unknown, config?: unknown) => (typeof fn === "function" ? retrying(fn, config) : original(fn, config)),
    configurable: true,
  });
}

/** Knex returns bigint columns as strings on PostgreSQL and numbers on SQLite. */
export function toNumber(v: unknown): number {
  return typeof v === "number" ? v : Number(v);
}

/**
 * Runs one statement on SQLite's pooled connection without the query builder (store/sqlite.ts sqliteStatement): for
 * the audit append, the one write on every request. Returns false on PostgreSQL, where the caller goes through knex.
 */
export async function sqliteRun(db: Db, sql: string, bindings: readonly unknown[]): Promise<boolean> {
  return (await sqliteStatement(db, "run", sql, bindings)) !== undefined;
}
