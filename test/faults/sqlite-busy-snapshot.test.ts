/**
 * SQLite, two processes' worth of connections on one file (the server and the CLI): a transaction that has read,
 * then finds that the other connection committed a write, cannot upgrade to a writer (SQLITE_BUSY_SNAPSHOT, which
 * busy_timeout does not wait out). The soak saw it once as a 503 while `ca revoke` ran. store/db.ts reruns such a
 * transaction from its start; here the conflict is made to happen on the first run, deterministically.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { BUSY_WAIT_MS } from "../../src/store/sqlite.js";

describe("SQLite: a transaction that loses its snapshot to another writer is run again (SQLITE_BUSY_SNAPSHOT)", function () {
  let dir: string;
  let server: Db;
  let cli: Db;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "certvault-busy-"));
    server = await openDatabase(join(dir, "certvault.db"));
    cli = await openDatabase(join(dir, "certvault.db"));
  });
  after(async function () {
    await server?.destroy();
    await cli?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads, loses the snapshot to a commit of the other connection, and commits on the rerun; nothing half-done", async function () {
    let runs = 0;
    await server.transaction(async (trx) => {
      runs++;
      await trx("ca_meta").select("key"); // the snapshot starts here
      if (runs === 1) await cli("ca_meta").insert({ key: "written-by-the-cli", value: 1 });
      await trx("ca_meta").insert({ key: `written-by-the-server-run-${runs}`, value: 1 });
    });
    expect(runs, "the first run lost its snapshot and was run again").to.equal(2);
    const keys = (await cli("ca_meta").pluck("key")) as string[];
    expect(keys).to.include.members(["written-by-the-cli", "written-by-the-server-run-2"]);
    expect(keys).to.not.include("written-by-the-server-run-1");
  });

  it("waits out another connection's 300 ms write lock without blocking the event loop for more than a few busy_timeouts", async function () {
    // Another writer's transaction holds the write lock for 300 ms (as a long `ca` operation or a migration would).
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => (locked = r));
    const released = cli.transaction(async (trx) => {
      await trx("ca_meta").insert({ key: "the-other-writer", value: 1 });
      locked();
      await new Promise((r) => setTimeout(r, 300));
    });
    await lockTaken;
    let longest = 0;
    let last = Date.now();
    const probe = setInterval(() => {
      longest = Math.max(longest, Date.now() - last);
      last = Date.now();
    }, 5);
    try {
      const started = Date.now();
      await server("ca_meta").insert({ key: "written-while-locked", value: 1 });
      await server.transaction(async (trx) => {
        await trx("ca_meta").insert({ key: "written-in-a-transaction", value: 1 });
      });
      expect(Date.now() - started, "the write waited for the lock").to.be.at.least(250);
    } finally {
      clearInterval(probe);
      await released;
    }
    // better-sqlite3's own default (a 5 s busy_timeout) would stall the loop for the whole 300 ms.
    expect(longest, "longest event-loop stall (ms)").to.be.below(5 * BUSY_WAIT_MS);
    expect(
      await cli("ca_meta").whereIn("key", ["written-while-locked", "written-in-a-transaction"]).pluck("key"),
    ).to.have.length(2);
  });
});
