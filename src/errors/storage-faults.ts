/**
 * Which driver errors mean "the database is there but cannot serve now" (a 503 the client may retry) rather than a
 * bug (a 500). This is the only place that knows the drivers' codes; errors/index.ts asCertvaultError turns the
 * answer into DatabaseUnavailableError or StorageFullError. No imports: errors/index.ts imports this file.
 *
 * - storage "full": SQLite SQLITE_FULL (the disk or the filesystem is full), PostgreSQL 53100 disk_full, ENOSPC.
 * - "unavailable": the database cannot be reached or written for now:
 *   SQLite SQLITE_READONLY*, SQLITE_IOERR*, SQLITE_CANTOPEN, SQLITE_BUSY / SQLITE_LOCKED (left after busy_timeout),
 *   SQLITE_PROTOCOL;
 *   PostgreSQL SQLSTATE class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now),
 *   53xxx (insufficient resources), 58xxx (system/I-O error), 25006 (read-only transaction: a standby after failover),
 *   57014 (statement cancelled);
 *   the socket: ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ENOTFOUND, EAI_AGAIN;
 *   pg's "Connection terminated" / "not queryable" errors (no code) and knex's pool acquire timeout.
 */

export type StorageFault = "full" | "unavailable";

const NODE_NET = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
const PG_CONNECTION_MESSAGE =
  /(Connection terminated|Client has encountered a connection error|Connection ended|Query read timeout)/;

function one(err: { name?: unknown; code?: unknown; message?: unknown }): StorageFault | undefined {
  const code = typeof err.code === "string" ? err.code : "";
  const message = typeof err.message === "string" ? err.message : "";
  if (code === "SQLITE_FULL" || code === "53100" || code === "ENOSPC") return "full";
  if (/^SQLITE_(READONLY|IOERR|CANTOPEN|BUSY|LOCKED|PROTOCOL)/.test(code)) return "unavailable";
  if (/^(08...|57P0[123]|53...|58...|25006|57014)$/.test(code)) return "unavailable";
  if (NODE_NET.has(code)) return "unavailable";
  if (err.name === "KnexTimeoutError") return "unavailable";
  if (PG_CONNECTION_MESSAGE.test(message)) return "unavailable";
  return undefined;
}

/** The fault behind `err` (looking through `cause` and AggregateError, a few levels deep), or undefined. */
export function storageFault(err: unknown, depth = 0): StorageFault | undefined {
  if (err === null || typeof err !== "object" || depth > 4) return undefined;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const found = one(e);
  if (found) return found;
  if (Array.isArray(e.errors))
    for (const inner of e.errors as unknown[]) {
      const f = storageFault(inner, depth + 1);
      if (f) return f;
    }
  return storageFault(e.cause, depth + 1);
}
