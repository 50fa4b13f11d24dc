/**
 * store/sqlite.ts runs a hot statement on SQLite's one connection at once when nobody holds it
 * (trackIdleConnection). The attack on that shortcut: a statement that lands inside another caller's open
 * transaction would be rolled back with it, or commit that transaction's half-done writes early. These tests hold a
 * transaction open across awaits, run statements meanwhile, and check that each ran outside it. Two guards stand
 * between a statement and a held connection, on purpose: tarn's own counts (used, waiting) and better-sqlite3's
 * `inTransaction`. Either one alone keeps these tests green; with both removed (the connection taken from tarn's
 * `used` list) the first test fails, checked. The counts alone also keep a statement off a connection in the middle
 * of a knex stream, which `inTransaction` does not see.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { sqliteStatement, sqliteTransaction } from "../../src/store/sqlite.js";

const INSERT = "INSERT INTO ca_meta (key, value) VALUES (?, ?)";
const SELECT = "SELECT value FROM ca_meta WHERE key = ?";

/** A promise opened from outside. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/**
 * A knex transaction of `on` that inserts `key`, then holds its connection until release(), which ends it (rolled
 * back with `rollBack`) and gives what the transaction settled with (the error when rolled back).
 */
async function holdTransaction(on: Db, key: string, rollBack = false): Promise<{ release(): Promise<unknown> }> {
  const inside = gate();
  const go = gate();
  const done = on
    .transaction(async (t) => {
      await t("ca_meta").insert({ key, value: 1 });
      inside.open();
      await go.opened;
      if (rollBack) throw new Error("roll back");
    })
    .catch((err: unknown) => err);
  await inside.opened;
  return {
    release: () => {
      go.open();
      return done;
    },
  };
}

describe("SQLite: a statement run on the idle connection never joins another caller's transaction", function () {
  let dir: string;
  let db: Db;

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), "certvault-idle-"));
    db = await openDatabase(join(dir, "certvault.db"));
  });
  afterEach(async function () {
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a statement issued while a transaction is open waits for it, and survives its rollback", async function () {
    const held = await holdTransaction(db, "in-the-transaction", true);
    // Issued while the transaction holds the connection: it must not run on it now.
    let done = false;
    const outside = sqliteStatement(db, "run", INSERT, ["outside-the-transaction", 2]).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done, "the statement ran while the transaction held the connection").to.equal(false);
    expect(String(await held.release())).to.match(/roll back/);
    await outside;
    const keys = (await db("ca_meta").pluck("key")) as string[];
    expect(keys, "the statement's row survives the other caller's rollback").to.include("outside-the-transaction");
    expect(keys).to.not.include("in-the-transaction");
  });

  it("a statement issued as one transaction hands the connection to another that waits for it never joins the second", async function () {
    const firstIn = gate();
    const firstGo = gate();
    const secondIn = gate();
    const secondGo = gate();
    const first = db.transaction(async (t) => {
      await t("ca_meta").insert({ key: "first", value: 1 });
      firstIn.open();
      await firstGo.opened;
    });
    await firstIn.opened;
    // The second waits in the pool for the connection the first holds.
    const second = db
      .transaction(async (t) => {
        await t("ca_meta").insert({ key: "second", value: 1 });
        secondIn.open();
        await secondGo.opened;
        throw new Error("roll back the second");
      })
      .catch((err: unknown) => err);
    firstGo.open();
    await first;
    await secondIn.opened;
    // The connection went straight from the first to the second: not idle for a moment.
    let done = false;
    const outside = sqliteStatement(db, "run", INSERT, ["between-the-two", 3]).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done, "the statement ran while the second transaction held the connection").to.equal(false);
    secondGo.open();
    expect(String(await second)).to.match(/roll back the second/);
    await outside;
    const keys = (await db("ca_meta").pluck("key")) as string[];
    expect(keys).to.include.members(["first", "between-the-two"]);
    expect(keys).to.not.include("second");
  });

  it("runs at once on the idle connection (no hop through the pool), and reads what it wrote", async function () {
    // Synchronously: the promise is already settled when a microtask later the value is read.
    const write = sqliteStatement(db, "run", INSERT, ["idle", 7]);
    let settled = false;
    void write.then(() => (settled = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(settled, "the statement went through the pool instead of the idle connection").to.equal(true);
    const read = await sqliteStatement<{ value: number } | undefined>(db, "get", SELECT, ["idle"]);
    expect(read?.value?.value).to.equal(7);
  });

  it("after the pool is destroyed, a statement fails instead of running on the closed connection", async function () {
    await db.destroy();
    let err: unknown;
    try {
      await sqliteStatement(db, "get", SELECT, ["idle"]);
    } catch (e) {
      err = e;
    }
    expect(err, "a statement ran after destroy").to.be.instanceOf(Error);
    expect(String(err)).to.not.match(/database connection is not open/);
  });

  describe("sqliteTransaction", function () {
    it("runs its statements at once in one transaction, and commits them", async function () {
      const n = sqliteTransaction(db, (statement) => {
        statement("run", INSERT, ["a", 1]);
        statement("run", INSERT, ["b", 2]);
        return (statement("all", "SELECT key FROM ca_meta WHERE key IN (?, ?)", ["a", "b"]) as unknown[]).length;
      });
      expect(n, "ran through the fallback instead").to.equal(2);
      expect(((await db("ca_meta").pluck("key")) as string[]).sort()).to.include.members(["a", "b"]);
    });

    it("a body that throws leaves nothing written, and the connection usable", async function () {
      expect(() =>
        sqliteTransaction(db, (statement) => {
          statement("run", INSERT, ["half", 1]);
          throw new Error("in the middle");
        }),
      ).to.throw("in the middle");
      expect((await db("ca_meta").pluck("key")) as string[]).to.not.include("half");
      await db("ca_meta").insert({ key: "after", value: 1 });
    });

    it("declines while a knex transaction of this process holds the connection (nothing runs inside it)", async function () {
      const held = await holdTransaction(db, "theirs");
      expect(sqliteTransaction(db, (statement) => statement("run", INSERT, ["mine", 1]))).to.equal(undefined);
      expect(await held.release(), "the holding transaction failed").to.equal(undefined);
      expect((await db("ca_meta").pluck("key")) as string[]).to.not.include("mine");
    });

    it("declines, writing nothing, while another process's connection holds the write lock", async function () {
      const other = await openDatabase(join(dir, "certvault.db"));
      try {
        const held = await holdTransaction(other, "the-other-writer");
        expect(sqliteTransaction(db, (statement) => statement("run", INSERT, ["blocked", 1]))).to.equal(undefined);
        expect(await held.release(), "the other writer's transaction failed").to.equal(undefined);
        expect((await db("ca_meta").pluck("key")) as string[]).to.not.include("blocked");
      } finally {
        await other.destroy();
      }
    });
  });
});
