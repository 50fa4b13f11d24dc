/**
 * The public test kit's configuration (src/testing). The kit is a library entry point with no CLI in front of it, so
 * its one environment read happens here, at its edge, and is handed down like every other setting.
 */
import { isPostgresUrl } from "../store/db.js";
import type { Env } from "./index.js";

/** The PostgreSQL server (CERTVAULT_TEST_DB, a postgres:// URL) on which each test CA gets a database, if any. */
export function testDatabaseServer(env: Env): string | undefined {
  const url = env.CERTVAULT_TEST_DB;
  return url && isPostgresUrl(url) ? url : undefined;
}

/** The environment of the process the kit runs in: read by the kit's public functions, and nowhere below them. */
export function kitEnvironment(): Env {
  return process.env;
}
