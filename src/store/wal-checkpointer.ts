/**
 * The server's SQLite WAL checkpoints, run on a worker thread with its own connection instead of inside a request's
 * commit. SQLite's automatic checkpoint runs in whichever commit takes the WAL past 1,000 pages, on the event loop,
 * and with `synchronous = NORMAL` it fsyncs the WAL and then the database file there: at c=50 server-sealed 1 KiB
 * POSTs, one record INSERT cost 177 us on average with it and 86 us without (ad-hoc timing of the statement, issue 17;
 * docs/performance.md).
 *
 * The worker runs `PRAGMA wal_checkpoint(PASSIVE)` every CHECKPOINT_INTERVAL_MS: it never waits for a lock and
 * never blocks a writer or reader. Durability does not change: a commit is acknowledged once it is in the WAL, as
 * before (store/sqlite.ts), and a checkpoint only copies committed pages into the database file.
 *
 * What the worker cannot do is rewind the WAL: SQLite starts the file over only when a write begins after a
 * checkpoint that copied every frame, and under steady writes commits land during each of the worker's checkpoints.
 * So the server's own connection still checkpoints past SAFETY_AUTOCHECKPOINT_PAGES; by then the worker has copied
 * nearly every frame, and that checkpoint is mostly its two fsyncs. Measured (server-sealed 1 KiB POSTs at c=50,
 * average of the record INSERT): 177-191 us with SQLite's default (1,000 pages, no worker), 114 us at 2,000 pages
 * with the worker, 97 us at 4,000, 85 us at 10,000, where the WAL grew to ~40 MB (the review of this change measured
 * 39.3 MB against 3.9 MB without the worker). At 4,000 pages the WAL peaks at 16-33 MB (the server's checkpoint is
 * skipped while the worker's runs, one at a time); test/store/wal-checkpointer.test.ts holds it under 2.25 times the
 * threshold under sustained writes. A worker that dies is logged; the server then checkpoints every 4,000 pages
 * on its own, as SQLite would every 1,000. The worker's code is plain JavaScript run with `eval`, so that it needs no
 * loader (the server runs from dist/ or from the sources through tsx).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** ~16 MB of WAL at 4 KiB pages before the request path checkpoints by itself (see above). */
export const SAFETY_AUTOCHECKPOINT_PAGES = 4_000;
/** A WAL file that grew past this (a long reader held it) is cut back to it when the WAL starts over. */
export const WAL_SIZE_LIMIT_BYTES = 32 * 1024 * 1024;
/** At ~1,000 writes/s of ~6 pages each, 200 ms is ~1,200 pages per checkpoint. */
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
  // A SqliteError from the worker's start arrives with its code and an empty message.
  worker.on("error", (err: Error & { code?: string }) => opts.onError(err.code ?? err.message));
  let closing = false;
  const exited = new Promise<void>((resolve) =>
    worker.once("exit", (code) => {
      if (!closing) opts.onError(`the checkpoint worker stopped (exit code ${code})`);
      resolve();
    }),
  );
  return {
    async close() {
      closing = true;
      worker.postMessage("close");
      await exited;
    },
  };
}
