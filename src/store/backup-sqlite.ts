/**
 * SQLite for backups: a connection that neither creates nor migrates the file it opens, the snapshot itself
 * (`VACUUM INTO`: one read transaction, a consistent copy while the server keeps writing in WAL mode; never a copy of
 * the live file), and what a snapshot holds (rows per table, the audit tail, the migrations, integrity).
 */
import knexFactory from "knex";
import { existsSync } from "node:fs";
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
import type { SqliteHandle } from "./sqlite.js";
import { GENESIS_HASH } from "../audit/chain.js";

/** A knex handle on an existing SQLite file: one connection, waits on locks, never creates the file, no migration. */
export function openSqliteFile(path: string): Db {
  if (!existsSync(path)) throw new Error(`no SQLite database at ${path}`);
  return knexFactory({
    client: "better-sqlite3",
    connection: { filename: path },
    useNullAsDefault: true,
    compileSqlOnError: false,
    pool: {
      min: 1,
      max: 1,
      // The backup runs in the CLI, where blocking its own event loop while the server holds the lock is harmless.
      afterCreate(conn: SqliteHandle, done: (err: Error | null, conn: unknown) => void) {
        try {
          conn.pragma("busy_timeout = 5000");
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  });
}

/** A consistent copy of the database behind `db` into `path` (which must not exist). */
export async function vacuumInto(db: Db, path: string): Promise<void> {
  // The file name is a bound parameter: no quoting of paths into SQL.
  await db.raw("VACUUM INTO ?", [path]);
}

export interface SnapshotFacts {
  tables: Record<string, number>;
  audit: { lastSeq: number; lastHash: string; lastCheckpointSeq: number };
  migrations: string[];
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function hasTable(db: Db, name: string, tables: Record<string, number>): Promise<boolean> {
  return Object.hasOwn(tables, name) || (await db.schema.hasTable(name));
}

/** Rows per table, the audit tail and newest checkpoint, and the applied migrations. */
export async function snapshotFacts(db: Db): Promise<SnapshotFacts> {
  const names = (await db.raw(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
  )) as { name: string }[];
  const tables: Record<string, number> = {};
  for (const { name } of names) {
    const [row] = (await db.raw(`SELECT count(*) AS n FROM ${quoteIdent(name)}`)) as { n: number }[];
    tables[name] = toNumber(row?.n ?? 0);
  }
  const audit = { lastSeq: 0, lastHash: GENESIS_HASH, lastCheckpointSeq: 0 };
  if (await hasTable(db, "audit_entries", tables)) {
    const tail = (await db("audit_entries").orderBy("seq", "desc").first("seq", "hash")) as
      { seq: number; hash: string } | undefined;
    if (tail) Object.assign(audit, { lastSeq: toNumber(tail.seq), lastHash: tail.hash });
    const cp = (await db("audit_checkpoints").max({ seq: "seq" }).first()) as { seq: number | null } | undefined;
    audit.lastCheckpointSeq = toNumber(cp?.seq ?? 0);
  }
  const migrations = (await hasTable(db, "knex_migrations", tables))
    ? ((await db("knex_migrations").orderBy("id").pluck("name")) as string[])
    : [];
  return { tables, audit, migrations };
}

/** SQLite's own check of every page and index: "ok", or the first problems it found. */
export async function integrityCheck(db: Db): Promise<string> {
  const rows = (await db.raw("PRAGMA integrity_check(5)")) as { integrity_check: string }[];
  return rows.map((r) => r.integrity_check).join("; ");
}
