/**
 * Opening the database: SQLite file (embedded default) or a PostgreSQL URL, both through knex, migrated to the latest
 * schema on open. Dialect differences stay in this folder.
 */
import knexFactory from "knex";
import type { Knex } from "knex";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { migrationSource } from "./migrations.js";

export type Db = Knex;

export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//.test(target);
}

/**
 * How long a query may wait for a connection (pool slot, or a new connection to PostgreSQL) before it fails with
 * 503 database_unavailable: the bound on a request while the database is away (docs/operations.md "When the database goes away or fills up").
 */
export const ACQUIRE_TIMEOUT_MS = 5_000;

export async function openDatabase(target: string): Promise<Db> {
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
      client: "sqlite3",
      connection: { filename: target },
      // Errors carry the SQL with placeholders, never the bound values (identities, ciphertext, audit fields).
      compileSqlOnError: false,
      useNullAsDefault: true,
      acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
      // One connection: SQLite serialises writers anyway, and a single handle keeps transactions simple.
      pool: {
        min: 1,
        max: 1,
        afterCreate(
          conn: { run(sql: string, cb: (err: Error | null) => void): void },
          done: (err: Error | null, conn: unknown) => void,
        ) {
          // WAL lets the CLI write (revoke) while a server reads; busy_timeout waits instead of failing on a lock.
          conn.run("PRAGMA journal_mode = WAL", (e1) => {
            if (e1) return done(e1, conn);
            conn.run("PRAGMA busy_timeout = 5000", (e2) => {
              if (e2) return done(e2, conn);
              // NORMAL in WAL mode: a commit survives a crash of the process but not necessarily of the machine, and
              // costs no fsync; the audit trail commits on every request, and with FULL the disk's fsync latency would
              // cap the request rate. PostgreSQL is the choice where power-loss durability of the last writes matters.
              conn.run("PRAGMA synchronous = NORMAL", (e3) => {
                if (e3) return done(e3, conn);
                conn.run("PRAGMA foreign_keys = ON", (e4) => done(e4, conn));
              });
            });
          });
        },
      },
    });
  }
  if (!isPostgresUrl(target)) retryBusyTransactions(db);
  await db.migrate.latest({ migrationSource, tableName: "knex_migrations" });
  return db;
}

const BUSY_ATTEMPTS = 5;

/**
 * A deferred SQLite transaction that has read cannot become a writer once another process (the CLI's `ca revoke`,
 * a backup) committed since its snapshot: SQLITE_BUSY at once, which busy_timeout does not wait out
 * (SQLITE_BUSY_SNAPSHOT; the soak saw it as one 503 in 15,000 operations). Every transaction is run again from its
 * start, up to 5 times with a short jittered pause: their bodies only read and write this database (store/*.ts),
 * so a rerun is the same transaction on a newer snapshot.
 */
function retryBusyTransactions(db: Knex): void {
  const original = db.transaction.bind(db) as (fn?: unknown, config?: unknown) => unknown;
  const retrying = async (fn: unknown, config: unknown): Promise<unknown> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await (original(fn, config) as Promise<unknown>);
      } catch (err) {
        if (attempt >= BUSY_ATTEMPTS || !String((err as { code?: unknown }).code ?? "").startsWith("SQLITE_BUSY"))
          throw err;
        await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 10));
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

interface SqliteConnection {
  run(sql: string, bindings: readonly unknown[], cb: (err: Error | null) => void): void;
}

/**
 * Runs one statement on SQLite's pooled connection without the query builder: for the audit append, the one write
 * on every request, where knex's per-query machinery cost as much as the insert (about 70 us a statement). Returns
 * false on PostgreSQL, where the caller goes through knex as usual.
 */
export async function sqliteRun(db: Db, sql: string, bindings: readonly unknown[]): Promise<boolean> {
  if (db.client.config.client !== "sqlite3") return false;
  const client = db.client as {
    acquireConnection(): Promise<SqliteConnection>;
    releaseConnection(c: SqliteConnection): Promise<void>;
  };
  const conn = await client.acquireConnection();
  try {
    await new Promise<void>((resolve, reject) => conn.run(sql, bindings, (err) => (err ? reject(err) : resolve())));
  } finally {
    await client.releaseConnection(conn);
  }
  return true;
}
