/**
 * The server's SQLite WAL is checkpointed by a worker thread (store/wal-checkpointer.ts), not inside a request's
 * commit: the server's own connection checkpoints only past 10,000 pages. What must hold: records written through
 * the server reach the database file itself (not only the WAL) without any request paying for it, every
 * acknowledged record is still readable through the WAL meanwhile, and stopping the server ends the worker.
 */
import { expect } from "chai";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "node:https";
import { createRequire } from "node:module";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { eventually } from "../helpers/eventually.js";

/** The part of better-sqlite3 (which ships no types) this file uses: a connection of the test's own. */
interface SqliteFile {
  prepare(sql: string): { get(): unknown };
  pragma(sql: string): unknown;
  close(): void;
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new (
  file: string,
  opts?: { readonly?: boolean },
) => SqliteFile;

function post(agent: Agent, url: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, method: "POST" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Records in the database file alone, as a copy without its -wal file shows it. */
function recordsInMainFile(home: string): number {
  const dir = mkdtempSync(join(tmpdir(), "certvault-mainfile-"));
  try {
    copyFileSync(join(home, "certvault.db"), join(dir, "copy.db"));
    const db = new Database(join(dir, "copy.db"), { readonly: true });
    try {
      const table = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'records'").get() as { n: number };
      // Not even the schema yet: the migrations too are still only in the WAL.
      if (table.n === 0) return 0;
      return (db.prepare("SELECT count(*) AS n FROM records").get() as { n: number }).n;
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("SQLite: the server's WAL is checkpointed off the request path", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let agent: Agent;

  before(async function () {
    ca = await createTestCA();
    if (ca.db.client.config.client !== "better-sqlite3") this.skip(); // SQLite's WAL; PostgreSQL checkpoints itself
    server = await startTestServer({ ca });
    const id = await ca.issueClient("writer");
    agent = new Agent({ keepAlive: true, maxSockets: 8, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
  });
  after(async function () {
    agent?.destroy();
    await server?.stop();
    await ca?.cleanup();
  });

  it("records written through the server reach the database file itself, with no request checkpointing", async function () {
    const statuses = await Promise.all(
      Array.from({ length: 120 }, (_, i) => post(agent, `${server.url}/v1/records`, Buffer.alloc(1024, i))),
    );
    expect(statuses).to.deep.equal(Array(120).fill(201));
    // Readable at once through the WAL (what the kit's connection and every request see).
    const stored = (await ca.db("records").where({ owner: "writer" }).count({ n: "*" })) as { n: number | string }[];
    expect(Number(stored[0]?.n)).to.equal(120);
    // The server's connection would not checkpoint 120 small writes by itself (its threshold is 10,000 pages): only
    // the worker copies them into the file.
    await eventually(() => recordsInMainFile(ca.home), {
      what: "the 120 records in certvault.db itself (without its WAL)",
      until: (n) => n === 120,
    });
  });

  it("stopping the server waits for the worker's last checkpoint and its end: nothing is left in the WAL", async function () {
    // stop() awaits the worker's exit (db.destroy()): a worker that never ended would hang it here.
    await server.stop();
    const db = new Database(join(ca.home, "certvault.db"));
    try {
      // A checkpoint with nobody else reading: every frame in the WAL was already copied back.
      const [row] = db.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[];
      expect(row?.busy).to.equal(0);
      expect(row?.checkpointed).to.equal(row?.log);
    } finally {
      db.close();
    }
    server = await startTestServer({ ca });
  });
});
