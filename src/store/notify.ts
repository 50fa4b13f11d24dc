/**
 * Change notifications between processes. On PostgreSQL a registry change (issue, revoke, quarantine) sends NOTIFY
 * inside its transaction, and servers LISTEN on a dedicated connection, so every node hears of it within
 * milliseconds. SQLite has no such channel; there, and while the listening connection is lost, the servers'
 * polling of the revision counter (every 250 ms by default) is what carries the change.
 *
 * A lost listening connection (the database restarted, a failover, a network cut) is re-established by itself:
 * retried every RETRY_MIN_MS, doubling to at most RETRY_MAX_MS, for as long as the server runs; once it LISTENs
 * again, `onChange` is called once, since whatever changed in between sent its NOTIFY to nobody.
 */
import type { Knex } from "knex";
import type { Db } from "./db.js";

export const REGISTRY_CHANNEL = "certvault_registry";
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 1000;

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
  on(event: "end", cb: () => void): void;
  removeAllListeners(): void;
  end(): Promise<void>;
}

export interface ListenEvents {
  /** The listening connection was lost (once per loss). */
  onError: (err: unknown) => void;
  /** Listening again after a loss. */
  onRestored?: () => void;
}

/**
 * Calls `onChange` on every registry notification; returns a function that stops listening (no-op on SQLite). The
 * first connection must succeed (a server does not start without its database); later losses are retried.
 */
export async function listenForRegistryChanges(
  db: Db,
  onChange: () => void,
  events: ListenEvents | ((err: unknown) => void),
): Promise<() => Promise<void>> {
  if (!isPg(db)) return async () => undefined;
  const { onError, onRestored } = typeof events === "function" ? { onError: events, onRestored: undefined } : events;
  const client = db.client as { acquireRawConnection(): Promise<PgConnection> };
  let conn: PgConnection | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = RETRY_MIN_MS;

  const lost = (c: PgConnection, err: unknown): void => {
    if (conn !== c) return; // already handled (error and end both fire)
    conn = undefined;
    c.removeAllListeners();
    c.on("error", () => undefined);
    void c.end().catch(() => undefined);
    if (stopped) return;
    onError(err);
    schedule();
  };
  const connect = async (): Promise<void> => {
    const c = await client.acquireRawConnection();
    conn = c;
    c.on("notification", onChange);
    c.on("error", (err) => lost(c, err));
    c.on("end", () => lost(c, new Error("the listening connection ended")));
    await c.query(`LISTEN ${REGISTRY_CHANNEL}`);
  };
  const schedule = (): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      connect().then(
        () => {
          if (stopped) {
            void conn?.end().catch(() => undefined);
            return;
          }
          delay = RETRY_MIN_MS;
          onRestored?.();
          onChange();
        },
        () => {
          if (conn) lost(conn, new Error("LISTEN failed"));
          else if (!stopped) {
            delay = Math.min(RETRY_MAX_MS, delay * 2);
            schedule();
          }
        },
      );
    }, delay);
    timer.unref();
  };

  await connect();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    const c = conn;
    conn = undefined;
    await c?.end().catch(() => undefined);
  };
}
