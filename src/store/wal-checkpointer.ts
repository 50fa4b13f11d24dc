/**
 * The server's SQLite WAL checkpoints, run on a worker thread with its own connection instead of inside a request's
 * commit. SQLite's automatic checkpoint runs in whichever commit takes the WAL past 1,000 pages, on the event loop,
 * and with `synchronous = NORMAL` it fsyncs the WAL and then the database file there: at c=50 server-sealed 1 KiB
 * POSTs, one record INSERT cost 177 us on average with it and 86 us without (ad-hoc timing of the statement, issue 17;
 * docs/performance.md).
 *
 * The worker runs `PRAGMA wal_checkpoint(PASSIVE)` every CHECKPOINT_INTERVAL_MS: it never waits for a lock and
 * never blocks a writer or reader. Durability does not change: a commit is acknowledged once it is in the WAL, as
 * before (store/sqlite.ts), and a checkpoint only copies committed pages into the database file. The server's own
 * connection still checkpoints by itself past SAFETY_AUTOCHECKPOINT_PAGES, so a worker that lags or dies costs speed,
 * never an unbounded WAL. The worker's code is plain JavaScript run with `eval` so that it needs no loader (the
 * server runs from dist/ or from the sources through tsx).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** 10,000 pages (~40 MB of WAL at 4 KiB pages) before the request path checkpoints by itself. */
export const SAFETY_AUTOCHECKPOINT_PAGES = 10_000;
/** At ~1,000 writes/s of ~6 pages each, 200 ms keeps the WAL near 1,200 pages between checkpoints. */
export const CHECKPOINT_INTERVAL_MS = 200;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = 0");
const checkpoint = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (err) {
    parentPort.postMessage({ error: String((err && (err.code || err.message)) || err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m !== "close") return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface WalCheckpointer {
  /** Runs a last checkpoint and ends the worker. */
  close(): Promise<void>;
}

export function startWalCheckpointer(
  file: string,
  opts: { intervalMs?: number; onError: (code: string) => void },
): WalCheckpointer {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      file,
      driver: createRequire(import.meta.url).resolve("better-sqlite3"),
      intervalMs: opts.intervalMs ?? CHECKPOINT_INTERVAL_MS,
    },
  });
  // Never what keeps the process alive.
  worker.unref();
  let reported: string | undefined;
  worker.on("message", (m: { error?: string }) => {
    // Once per kind of error: a checkpoint that keeps failing would otherwise log five times a second.
    if (m.error && m.error !== reported) opts.onError((reported = m.error));
  });
  worker.on("error", (err) => opts.onError(err.message));
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    async close() {
      worker.postMessage("close");
      await exited;
    },
  };
}
