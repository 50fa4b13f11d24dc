/**
 * store/record-chunks.ts: envelopes of 1 MiB and more are stored in 64 KiB chunks. The attacks on it: a record read
 * back short, reordered, mixed from two versions or from another record; chunks left behind by a replacement or a
 * delete; and a database that lost, added, cut or re-versioned chunks handing out bytes instead of an error. On
 * SQLite, and on PostgreSQL when CERTVAULT_TEST_PG (or CERTVAULT_TEST_DB) names a server.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { CHUNK_BYTES, CHUNKED_FROM_BYTES, ChunksInconsistentError } from "../../src/store/record-chunks.js";
import { RecordRepository } from "../../src/store/records.js";
import { releaseOwnPages } from "../../src/policy/memory.js";
import { createScratchDatabase } from "../../src/testing/scratch-db.js";
import type { ScratchDatabase } from "../../src/testing/scratch-db.js";
import { rowsIn } from "../helpers/db.js";

const PG = process.env.CERTVAULT_TEST_DB ?? process.env.CERTVAULT_TEST_PG;
const MIB = 1024 * 1024;
const now = new Date("2026-12-03T12:00:00Z");

function id(n: number): string {
  return n.toString(16).padStart(32, "0");
}

/** What the database keeps of record `n`: its row's envelope length and chunk count, and its chunk rows. */
async function stored(db: Db, n: number): Promise<{ inRow: number; chunks: number; rows: number }> {
  const row = (await db("records")
    .where({ id: id(n) })
    .first(db.raw("length(envelope) as len"), "chunks")) as
    { len: number | string; chunks: number | string } | undefined;
  return {
    inRow: Number(row?.len ?? -1),
    chunks: Number(row?.chunks ?? -1),
    rows: await rowsIn(db, "record_chunks", { record_id: id(n) }),
  };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return undefined;
}

for (const backend of PG ? ["SQLite", "PostgreSQL"] : ["SQLite"]) {
  describe(`${backend}: large envelopes in chunks (store/record-chunks.ts)`, function () {
    this.timeout(60_000);
    let dir: string;
    let scratch: ScratchDatabase | undefined;
    let db: Db;
    let repo: RecordRepository;

    beforeEach(async function () {
      dir = mkdtempSync(join(tmpdir(), "certvault-chunks-"));
      scratch = backend === "PostgreSQL" ? await createScratchDatabase(PG!) : undefined;
      db = await openDatabase(scratch?.url ?? join(dir, "certvault.db"));
      repo = new RecordRepository(db);
    });

    afterEach(async function () {
      await db.destroy();
      await scratch?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("3 MiB + 5 bytes: 49 chunks, the row's envelope empty, read back whole by its owner and a grantee only", async function () {
      const bytes = randomBytes(3 * MIB + 5);
      await repo.insert({ id: id(1), owner: "alice", envelope: bytes, now });
      expect(await stored(db, 1)).to.deep.equal({ inRow: 0, chunks: 49, rows: 49 });
      expect(Buffer.from((await repo.getReadable("alice", id(1)))!.envelope).equals(bytes)).to.equal(true);
      expect(Buffer.from((await repo.getEnvelope("alice", id(1)))!.envelope).equals(bytes)).to.equal(true);
      expect(await repo.getReadable("bob", id(1))).to.equal(null);
      expect(await repo.getEnvelope("bob", id(1))).to.equal(null);
      expect(await repo.setGrant({ owner: "alice", id: id(1), grantee: "bob", version: 1, grant: true, now })).to.equal(
        true,
      );
      const bobs = await repo.getReadable("bob", id(1));
      expect(Buffer.from(bobs!.envelope).equals(bytes)).to.equal(true);
      expect(bobs!.version).to.equal(1);
      expect(await repo.getEnvelope("bob", id(1))).to.equal(null); // readable is not owned
      expect(
        await repo.setGrant({ owner: "alice", id: id(1), grantee: "bob", version: 1, grant: false, now }),
      ).to.equal(true);
      expect(await repo.getReadable("bob", id(1))).to.equal(null);
    });

    it("the threshold: 1 MiB - 1 stays in the row, 1 MiB is chunked; an insert under a taken id leaves no chunks", async function () {
      await repo.insert({ id: id(1), owner: "alice", envelope: randomBytes(CHUNKED_FROM_BYTES - 1), now });
      await repo.insert({ id: id(2), owner: "alice", envelope: randomBytes(CHUNKED_FROM_BYTES), now });
      expect(await stored(db, 1)).to.deep.equal({ inRow: CHUNKED_FROM_BYTES - 1, chunks: 0, rows: 0 });
      expect(await stored(db, 2)).to.deep.equal({ inRow: 0, chunks: CHUNKED_FROM_BYTES / CHUNK_BYTES, rows: 16 });
      const taken = await repo.insertNew({ id: id(1), owner: "mallory", envelope: randomBytes(2 * MIB), now });
      expect(taken).to.equal(false);
      expect(await stored(db, 1)).to.deep.equal({ inRow: CHUNKED_FROM_BYTES - 1, chunks: 0, rows: 0 });
    });

    it("replacing: chunked to chunked, to small, to chunked again; each read whole, no chunk of an old version left", async function () {
      const v1 = randomBytes(2 * MIB);
      const v2 = randomBytes(MIB + 1);
      const v3 = randomBytes(100);
      const v4 = randomBytes(4 * MIB);
      await repo.insert({ id: id(1), owner: "alice", envelope: v1, now });
      const replace = (envelope: Buffer, expectedVersion?: number): Promise<boolean> =>
        repo.replace({ id: id(1), owner: "alice", envelope, now, expectedVersion });
      expect(await replace(v2, 1)).to.equal(true);
      expect(await stored(db, 1)).to.deep.equal({ inRow: 0, chunks: 17, rows: 17 });
      expect(await replace(v3)).to.equal(true);
      expect(await stored(db, 1)).to.deep.equal({ inRow: 100, chunks: 0, rows: 0 });
      expect(Buffer.from((await repo.getReadable("alice", id(1)))!.envelope).equals(v3)).to.equal(true);
      expect(await replace(v4, 3)).to.equal(true);
      expect(await stored(db, 1)).to.deep.equal({ inRow: 0, chunks: 64, rows: 64 });
      // A stale version or another owner replaces nothing, and the chunks stay.
      expect(await replace(v1, 3)).to.equal(false);
      expect(await repo.replace({ id: id(1), owner: "mallory", envelope: v1, now })).to.equal(false);
      const read = await repo.getReadable("alice", id(1));
      expect(read!.version).to.equal(4);
      expect(Buffer.from(read!.envelope).equals(v4)).to.equal(true);
      expect(await rowsIn(db, "record_chunks", { record_id: id(1), version: 4 })).to.equal(64);
    });

    it("a body released before its chunks were written is refused: nothing of the record is stored", async function () {
      const big = 2 * MIB;
      const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
      const body = new Uint8Array(new Resizable(big, { maxByteLength: big }), 0, big).fill(7);
      const pending = repo.insertNew({ id: id(9), owner: "alice", envelope: body, now });
      releaseOwnPages(body); // the same turn: before the transaction binds the first chunk
      expect(String(await errorOf(pending))).to.match(/released before they were written/);
      expect(await rowsIn(db, "records")).to.equal(0);
      expect(await rowsIn(db, "record_chunks")).to.equal(0);
    });

    it("a large envelope written before migration 012 (in its row) still reads whole, and is chunked when replaced", async function () {
      const old = randomBytes(2 * MIB);
      const t = now.getTime();
      await db("records").insert({
        id: id(1),
        owner: "alice",
        envelope: old,
        size: old.length,
        created_at: t,
        updated_at: t,
      });
      expect(await stored(db, 1)).to.deep.equal({ inRow: 2 * MIB, chunks: 0, rows: 0 });
      expect(Buffer.from((await repo.getReadable("alice", id(1)))!.envelope).equals(old)).to.equal(true);
      const next = randomBytes(2 * MIB);
      expect(await repo.replace({ id: id(1), owner: "alice", envelope: next, now, expectedVersion: 1 })).to.equal(true);
      expect(await stored(db, 1)).to.deep.equal({ inRow: 0, chunks: 32, rows: 32 });
      expect(Buffer.from((await repo.getReadable("alice", id(1)))!.envelope).equals(next)).to.equal(true);
    });

    it("deleting a chunked record deletes its chunks, and only its own", async function () {
      await repo.insert({ id: id(1), owner: "alice", envelope: randomBytes(2 * MIB), now });
      await repo.insert({ id: id(2), owner: "alice", envelope: randomBytes(2 * MIB), now });
      expect(await repo.delete("mallory", id(1))).to.equal(false);
      expect(await repo.delete("alice", id(1))).to.equal(true);
      expect(await rowsIn(db, "record_chunks", { record_id: id(1) })).to.equal(0);
      expect(await rowsIn(db, "record_chunks", { record_id: id(2) })).to.equal(32);
    });

    describe("a database that lies about the chunks: an error, never bytes", function () {
      const bytes = randomBytes(2 * MIB);
      beforeEach(async function () {
        await repo.insert({ id: id(1), owner: "alice", envelope: bytes, now });
      });
      const chunk = (seq: number): ReturnType<Db> => db("record_chunks").where({ record_id: id(1), seq });

      async function expectRefused(what: RegExp): Promise<void> {
        for (const read of [() => repo.getReadable("alice", id(1)), () => repo.getEnvelope("alice", id(1))]) {
          const err = await errorOf(read());
          expect(err).to.be.instanceOf(ChunksInconsistentError);
          expect((err as ChunksInconsistentError).code).to.equal("internal_error");
          expect((err as Error).message).to.match(what);
        }
      }

      it("a chunk lost", async function () {
        expect(await chunk(5).delete()).to.equal(1);
        await expectRefused(/number 31, not 32/);
      });
      it("a chunk added after the last", async function () {
        await db("record_chunks").insert({ record_id: id(1), seq: 32, version: 1, bytes: Buffer.alloc(10) });
        await expectRefused(/number 33, not 32/);
      });
      it("a chunk cut short, or grown", async function () {
        expect(await chunk(3).update({ bytes: Buffer.alloc(CHUNK_BYTES - 1) })).to.equal(1);
        await expectRefused(/hold 2097151 bytes, not 2097152/);
        expect(await chunk(3).update({ bytes: Buffer.alloc(CHUNK_BYTES + 1) })).to.equal(1);
        await expectRefused(/hold 2097153 bytes, not 2097152/);
      });
      it("numbers skipped (a chunk renumbered past the end)", async function () {
        expect(await chunk(7).update({ seq: 40 })).to.equal(1);
        await expectRefused(/skip or repeat a number at 7/);
      });
      it("the chunks of another version only (every one re-versioned)", async function () {
        expect(
          await db("record_chunks")
            .where({ record_id: id(1) })
            .update({ version: 0 }),
        ).to.equal(32);
        await expectRefused(/are missing/);
      });
      it("the count set to 0 (the row's empty envelope is not a record of no bytes)", async function () {
        expect(
          await db("records")
            .where({ id: id(1) })
            .update({ chunks: 0 }),
        ).to.equal(1);
        await expectRefused(/its row holds no bytes/);
      });
      it("the record's size or count rewritten", async function () {
        expect(
          await db("records")
            .where({ id: id(1) })
            .update({ size: 2 * MIB + 1 }),
        ).to.equal(1);
        await expectRefused(/hold 2097152 bytes, not 2097153/);
        // A size made up large is refused before anything of that size is allocated.
        expect(
          await db("records")
            .where({ id: id(1) })
            .update({ size: 2 ** 31 - 1 }),
        ).to.equal(1);
        await expectRefused(/hold 2097152 bytes, not 2147483647/);
        expect(
          await db("records")
            .where({ id: id(1) })
            .update({ size: 2 * MIB, chunks: 31 }),
        ).to.equal(1);
        await expectRefused(/number 32, not 31/);
      });
    });

    it("a read and a replacement started in the same turn: the read is of one version, under its own number", async function () {
      // On SQLite the replacement's transaction commits between the read's row and its chunks in some rounds (the
      // review counted 3 of 8): a chunked record rewritten small is then read again, one rewritten chunked is read
      // from the chunks' own statement.
      const content = (v: number): Buffer => Buffer.alloc(v % 2 === 0 ? 500 + v : 2 * MIB + v, v);
      await repo.insert({ id: id(1), owner: "alice", envelope: content(1), now });
      for (let v = 2; v <= 9; v++) {
        const [read, replaced] = await Promise.all([
          repo.getReadable("alice", id(1)),
          repo.replace({ id: id(1), owner: "alice", envelope: content(v), now }),
        ]);
        expect(replaced).to.equal(true);
        const w = read!.envelope[0]!;
        expect([v - 1, v]).to.include(w);
        expect(Buffer.from(read!.envelope).equals(content(w)), `content ${w}`).to.equal(true);
        expect(read!.version).to.equal(w);
      }
    });

    it("reads racing replacements (chunked, chunked, small, ...) each return one whole version, under its own number", async function () {
      // Each content's bytes are its number repeated, and its length says whether it is chunked: a read mixed from
      // two contents, or short, shows up as a wrong byte or a wrong length.
      const version = (v: number): Buffer => Buffer.alloc(v % 3 === 0 ? 1000 + v : 2 * MIB + v, v);
      await repo.insert({ id: id(1), owner: "alice", envelope: version(1), now });
      let writing = true;
      const writer = (async (): Promise<void> => {
        for (let v = 2; v <= 12; v++)
          expect(await repo.replace({ id: id(1), owner: "alice", envelope: version(v), now })).to.equal(true);
        writing = false;
      })();
      const reads: { envelope: Uint8Array; version: number }[] = [];
      const reader = async (): Promise<void> => {
        while (writing)
          reads.push((await repo.getReadable("alice", id(1)))!, (await repo.getEnvelope("alice", id(1)))!);
      };
      await Promise.all([writer, reader(), reader(), reader()]);
      // What the database calls version N must always be the same bytes.
      const contentOf = new Map<number, number>();
      for (const found of reads) {
        const v = found.envelope[0]!;
        expect(Buffer.from(found.envelope).equals(version(v)), `a read of content ${v}`).to.equal(true);
        // The writer replaces one at a time, so content v is version v: the version must name these bytes.
        expect(found.version, `the version read with content ${v}`).to.equal(v);
        expect(contentOf.get(found.version) ?? v, `version ${found.version}`).to.equal(v);
        contentOf.set(found.version, v);
      }
      expect(contentOf.size).to.be.above(1); // the reads did interleave with the replacements
      // A read that took its version from its first statement and its bytes from the second fails this on both
      // databases (the attack review's probe: 9 of 18 reads wrong on SQLite, 0-4 of ~650 on PostgreSQL).
    });
  });
}
