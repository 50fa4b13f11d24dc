/**
 * PostgreSQL for tests: when CERTVAULT_TEST_DB names a PostgreSQL server (postgres://user:pass@host:port/db), each
 * test CA gets a database of its own, created on that server and dropped by cleanup(), so tests stay as isolated as
 * they are with a SQLite file per CA.
 */
import { randomBytes } from "node:crypto";
import knexFactory from "knex";
import { kitEnvironment, testDatabaseServer as fromEnv } from "../config/test-kit.js";
import type { Env } from "../config/index.js";

export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** The PostgreSQL server tests should use, if any: CERTVAULT_TEST_DB of `env` (default: this process's, config/test-kit.ts). */
export function testDatabaseServer(env: Env = kitEnvironment()): string | undefined {
  return fromEnv(env);
}

export async function createScratchDatabase(serverUrl: string): Promise<ScratchDatabase> {
  const name = `certvault_test_${randomBytes(6).toString("hex")}`;
  const admin = knexFactory({ client: "pg", connection: serverUrl, pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`CREATE DATABASE ${name}`);
  } finally {
    await admin.destroy();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = knexFactory({ client: "pg", connection: serverUrl, pool: { min: 0, max: 1 } });
      try {
        try {
          await a.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } catch (err) {
          // FORCE must be allowed to signal every backend on the database, and an autovacuum worker that has just
          // started there is the superuser's: 42501 for a role without pg_signal_backend (seen in CI). A plain DROP
          // stops autovacuum workers itself (and waits for them a little), so it takes over.
          if ((err as { code?: string }).code !== "42501") throw err;
          await a.raw(`DROP DATABASE IF EXISTS ${name}`);
        }
      } finally {
        await a.destroy();
      }
    },
  };
}
