/**
 * The read rules (anomaly/read-rules.ts) and their database counts (store/read-counters.ts, through ReadAdmission) on a
 * real database (SQLite; PostgreSQL too with CERTVAULT_TEST_DB) with an injected clock: daily_reads is judged against
 * the identity's own history (a steady 100 a day for a week allows 300, not 1,000 or 40), re-reads are not new
 * reads, windows roll, and a release forgets the counts. Failed before the change: there was no daily rule and no
 * database count (anomaly/read-rules.ts and store/read-counters.ts did not exist).
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { ReadCounters } from "../../src/store/read-counters.js";
import { QuarantineRepository } from "../../src/store/quarantine.js";
import { ReadAdmission } from "../../src/server/middleware/admission.js";
import { dailyLimit, readFindings } from "../../src/anomaly/read-rules.js";
import { DEFAULT_THRESHOLDS, thresholdsFrom } from "../../src/anomaly/rules.js";
import { createScratchDatabase, testDatabaseServer } from "../../src/testing/scratch-db.js";

const T0 = Date.UTC(2026, 10, 23, 0, 0, 0);
const MIN = 60_000;
const DAY = 86_400_000;

describe("abuse: read rules", function () {
  it("daily_reads: the limit follows the identity's history between dayRecordsMin and dayRecordsMax", function () {
    const t = DEFAULT_THRESHOLDS;
    expect([0, 100, 400, 1000, 10_000].map((b) => dailyLimit(b, t))).to.deep.equal([1000, 1000, 1200, 3000, 5000]);
    expect(readFindings({ window: null, day: 999, dayBaseline: 0 }, t)).to.deep.equal([]);
    const [f] = readFindings({ window: null, day: 1000, dayBaseline: 0 }, t);
    expect(f).to.include({ rule: "daily_reads", severity: "high", value: 1000, threshold: 1000 });
    expect(readFindings({ window: 200, day: null, dayBaseline: 0 }, t).map((x) => x.rule)).to.deep.equal(["bulk_read"]);
  });

  it("a slow drain of 199 distinct reads every 10 minutes (about 28,000 a day) passes bulk_read and trips daily_reads within the hour", function () {
    const t = DEFAULT_THRESHOLDS;
    expect(readFindings({ window: 199, day: null, dayBaseline: 0 }, t)).to.deep.equal([]);
    // At 199 per 10 minutes the 1,000th distinct read comes in the sixth batch: 51 minutes in.
    expect(Math.ceil(dailyLimit(0, t) / 199) * 10 - 9).to.equal(51);
  });

  it("the new settings are validated", function () {
    expect(() => thresholdsFrom({ dayRecordsMin: 10, dayRecordsMax: 5 })).to.throw(/dayRecordsMax/);
    expect(() => thresholdsFrom({ dayHistoryDays: 1.5 })).to.throw(/whole number/);
    expect(() => thresholdsFrom({ severity: { daily_reads: "medium" } })).to.not.throw();
  });
});

for (const dialect of ["sqlite", "postgres"] as const) {
  describe(`abuse: read counts in the database (${dialect})`, function () {
    this.timeout(60_000);
    let db: Db;
    let cleanup: () => Promise<void>;
    const t = thresholdsFrom({
      distinctRecords: 50,
      dayRecordsMin: 150,
      dayFactor: 3,
      dayHistoryDays: 7,
      dayRecordsMax: 1000,
    });

    before(async function () {
      if (dialect === "postgres") {
        const server = testDatabaseServer();
        if (!server) return this.skip();
        const scratch = await createScratchDatabase(server);
        db = await openDatabase(scratch.url);
        cleanup = async () => {
          await db.destroy();
          await scratch.drop();
        };
      } else {
        const dir = mkdtempSync(join(tmpdir(), "certvault-reads-"));
        db = await openDatabase(join(dir, "certvault.db"));
        cleanup = async () => {
          await db.destroy();
          rmSync(dir, { recursive: true, force: true });
        };
      }
    });
    after(async function () {
      await cleanup?.();
    });

    it("a steady 100 distinct reads a day for a week sets a limit of 300 (3 x 100, not the minimum of 150) on the eighth day", async function () {
      const admission = new ReadAdmission(new ReadCounters(db, t), t);
      for (let day = 0; day < 7; day++) {
        for (let i = 0; i < 100; i++) {
          const v = await admission.admit("steady", `d${day}-r${i}`, T0 + day * DAY + i * 5 * MIN, false);
          expect(v.refuse, `day ${day} read ${i}`).to.equal(false);
        }
      }
      // Noon of the eighth day: the rolling day window no longer holds the seventh day's reads (00:00 to 08:15).
      const day8 = T0 + 7 * DAY + 12 * 60 * MIN;
      let served = 0;
      for (let i = 0; i < 400; i++) {
        const v = await admission.admit("steady", `d7-r${i}`, day8 + i * 2 * MIN, false);
        if (v.refuse) {
          expect(v.report.map((f) => [f.rule, f.value, f.threshold])).to.deep.equal([["daily_reads", 300, 300]]);
          break;
        }
        served++;
      }
      expect(served).to.equal(299);
    });

    it("re-reading one record is one read per window; a new window counts it again", async function () {
      const c = new ReadCounters(db, t);
      expect(await c.count("rereader", "r1", T0)).to.deep.equal({ window: 1, day: 1 });
      for (let i = 1; i < 20; i++)
        expect(await c.count("rereader", "r1", T0 + i * 1000)).to.deep.equal({ window: null, day: null });
      expect(await c.count("rereader", "r2", T0 + 30_000)).to.deep.equal({ window: 2, day: 2 });
      // Ten minutes on: r1 counts again in the short window (which no longer holds the first reads), not in the day.
      expect(await c.count("rereader", "r1", T0 + 10 * MIN + 1000)).to.deep.equal({ window: 1, day: null });
    });

    it("a release from quarantine forgets the identity's counts on every node (they are the same rows)", async function () {
      const c = new ReadCounters(db, t);
      for (let i = 0; i < 5; i++) await c.count("released", `r${i}`, T0);
      const repo = new QuarantineRepository(db);
      await repo.add({ identity: "released", rule: "bulk_read", reason: "test", since: new Date(T0) });
      expect(await repo.release("released")).to.equal(true);
      expect(await c.count("released", "r9", T0 + 1000)).to.deep.equal({ window: 1, day: 1 });
    });
  });
}
