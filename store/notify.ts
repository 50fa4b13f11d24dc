/**
 * Change notifications between processes. On PostgreSQL a registry change (issue, revoke, quarantine) sends NOTIFY
 * inside its transaction, and servers LISTEN on a dedicated connection, so every node hears of it within
 * milliseconds. SQLite has no such channel; there, and whenever the listening connection is lost, the servers'
 * polling of the revision counter (every 250 ms by default) is what carries the change.
 */
import type { Knex } from "knex";
import type { Db } from "./db.js";

export const REGISTRY_CHANNEL = "certvault_registry";

function isPg(q: Db | Knex.Transaction): boolean {
  return q.client.config.client === "pg";
}

/** Queues a notification that is delivered when the surrounding transaction commits. */
export async function notifyRegistryChange(trx: Db | Knex.Transaction): Promise<void> {
  if (isPg(trx)) await trx.raw("SELECT pg_notify(?, '')", [REGISTRY_CHANNEL]);
}

interface PgConnection {
  query(sql: string): Promise<unknown>;
  on(event: "notification", cb: () => void): void;
  on(event: "error", cb: (err: Error) => void): void;
  end(): Promise<void>;
}

/** Calls `onChange` on every registry notification; returns a function that stops listening (no-op on SQLite). */
export async function listenForRegistryChanges(db: Db, onChange: () => void, onError: (err: unknown) => void): Promise<() => Promise<void>> {
  if (!isPg(db)) return async () => undefined;
  const client = db.client as { acquireRawConnection(): Promise<PgConnection> };
  const conn = await client.acquireRawConnection();
  conn.on("notification", onChange);
  conn.on("error", onError);
  await conn.query(`LISTEN ${REGISTRY_CHANNEL}`);
  return async () => {
    await conn.end().catch(() => undefined);
  };
}
