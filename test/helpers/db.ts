/**
 * Looking into the database from a test: row counts through knex (any backend) and, as an independent judge on
 * SQLite, the sqlite3 CLI (optional: see judges.ts).
 */
import { createRequire } from "node:module";
import type { Knex } from "knex";
import type { Db } from "../../src/store/db.js";
import { runProcess } from "./cli.js";
import { judgeOrFallback } from "./judges.js";

/** The part of better-sqlite3 (which ships no types) this file uses. */
interface SqliteFile {
  prepare(sql: string): { raw(on: boolean): { all(): unknown[][] } };
  exec(sql: string): void;
  close(): void;
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new (
  file: string,
  opts: { timeout: number },
) => SqliteFile;

/** Rows a query matches: `countRows(ca.db("audit_entries").where({ actor: "alice" }))`. */
export async function countRows(query: Knex.QueryBuilder): Promise<number> {
  const row = (await query.clone().clearSelect().clearOrder().count({ n: "*" }).first()) as { n: number | string };
  return Number(row.n);
}

/** Rows of `table` (matching `where`, when given). */
export function rowsIn(db: Db, table: string, where: Record<string, unknown> = {}): Promise<number> {
  return countRows(db(table).where(where));
}

/**
 * The names of the database's tables, asked of the database itself (not of the product's migrations, so that a table
 * nobody listed is found too): sqlite_master on SQLite, information_schema on PostgreSQL (the connection's schema).
 */
export async function tableNames(db: Db): Promise<string[]> {
  const q =
    db.client.config.client === "pg"
      ? db("information_schema.tables")
          .where({ table_type: "BASE TABLE" })
          .andWhereRaw("table_schema = current_schema()")
          .pluck("table_name")
      : db("sqlite_master").where({ type: "table" }).pluck("name");
  return ((await q) as string[]).sort();
}

/**
 * Runs one SQL statement on a SQLite file with the sqlite3 CLI (not the product's knex: an insider's write access, or
 * a second opinion); its stdout, trimmed. Without the CLI (a fresh machine; CI requires it: judges.ts) the statement
 * runs through better-sqlite3 (a connection of its own), and a query's rows come back in the same shape.
 */
export async function sqlite3(dbFile: string, sql: string): Promise<string> {
  if (!judgeOrFallback("sqlite3", "SQL run through better-sqlite3 (the driver knex uses)"))
    return viaDriver(dbFile, sql);
  const r = await runProcess("sqlite3", ["-cmd", ".timeout 5000", dbFile, sql], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** The same SQL through the SQLite driver knex uses (better-sqlite3): a SELECT's rows as the CLI prints them, else exec. */
function viaDriver(dbFile: string, sql: string): string {
  const db = new Database(dbFile, { timeout: 5000 });
  try {
    if (/^\s*select\b/i.test(sql)) {
      const rows = db.prepare(sql).raw(true).all();
      return rows.map((r) => r.map((v) => (v === null ? "" : String(v))).join("|")).join("\n");
    }
    db.exec(sql);
    return "";
  } finally {
    db.close();
  }
}

/** `SELECT count(*) ...` with the sqlite3 CLI. */
export async function sqlite3Count(dbFile: string, sql: string): Promise<number> {
  const out = await sqlite3(dbFile, sql);
  if (!/^\d+$/.test(out)) throw new Error(`sqlite3 did not print a count: ${out}`);
  return Number(out);
}
