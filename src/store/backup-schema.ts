/**
 * A restored snapshot must hold exactly the schema certvault's own migrations make: no extra table, index, trigger or
 * view. A trigger adds no rows and no audit entries, so counts, digests and the audit chain cannot see one; yet
 * `AFTER UPDATE OF status ON certificates ... SET status = 'active'` would make every later revocation silently undo
 * itself (found by an attacker's review: the backup's digest is not a signature, so whoever can rewrite the file can
 * add one). The expected schema is made by running the manifest's migrations, in order, on an empty database.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackupInvalidError } from "../errors/index.js";
import { openSqliteFile } from "./backup-sqlite.js";
import type { Db } from "./db.js";
import { migrationSource } from "./migrations.js";

type SchemaRow = { type: string; name: string; tbl_name: string; sql: string | null };

async function schemaOf(db: Db): Promise<Map<string, string>> {
  const rows = (await db.raw(
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name",
  )) as SchemaRow[];
  return new Map(rows.map((r) => [`${r.type} ${r.name}`, `${r.tbl_name}\n${r.sql ?? ""}`]));
}

async function expectedSchema(migrations: readonly string[]): Promise<Map<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), "certvault-schema-"));
  const file = join(dir, "expected.db");
  writeFileSync(file, "");
  const db = openSqliteFile(file);
  try {
    for (const name of migrations) await db.migrate.up({ migrationSource, tableName: "knex_migrations", name });
    return await schemaOf(db);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Refuses a snapshot whose schema is not exactly the one its migrations make (names only, never SQL, in messages). */
export async function requireOwnSchema(snapshot: Db, migrations: readonly string[]): Promise<void> {
  const [found, expected] = [await schemaOf(snapshot), await expectedSchema(migrations)];
  for (const [key, sql] of found) {
    if (!expected.has(key))
      throw new BackupInvalidError(`the snapshot holds a ${key} that certvault does not make: refused`);
    if (expected.get(key) !== sql)
      throw new BackupInvalidError(`the snapshot's ${key} is not the one certvault makes: refused`);
  }
  for (const key of expected.keys())
    if (!found.has(key)) throw new BackupInvalidError(`the snapshot lacks ${key}: refused`);
}
