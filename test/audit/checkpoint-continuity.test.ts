/**
 * The checkpoint signer blesses only a chain that continues what it signed before: an insider who rewrites the
 * table (re-hashing every entry after a deletion) and deletes the checkpoints cannot get the server to sign it.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { AuditRepository } from "../../src/store/audit.js";
import { AuditLog } from "../../src/audit/audit-log.js";
import { auditPaths, ensureAuditKey, fileAuditSigner } from "../../src/audit/audit-key.js";
import { verifyAudit } from "../../src/audit/verify.js";
import type { AuditEvent } from "../../src/audit/chain.js";
import { rowsIn } from "../helpers/db.js";

const event = (i: number): AuditEvent => ({
  time: new Date(Date.UTC(2026, 10, 23) + i),
  actor: "alice",
  action: "me",
  status: 200,
  requestId: `r${i}`,
});

describe("audit: checkpoint continuity", function () {
  let dir: string;
  let db: Db;
  let repo: AuditRepository;
  const paths = () => auditPaths(dir);
  const signingLog = (checkpointEvery?: number, r: AuditRepository = repo): AuditLog =>
    new AuditLog(r, {
      signing: { key: fileAuditSigner(ensureAuditKey(paths(), "audit test passphrase")), paths: paths() },
      ...(checkpointEvery === undefined ? {} : { checkpointEvery }),
    });

  /** A row a database writer inserts with a sequence number of its choosing (SQLite's column takes any value). */
  const plant = (seq: string | number, hash: string) =>
    db.raw(
      "INSERT INTO audit_entries (seq, time, actor, action, status, prev_hash, hash) VALUES (?, 0, 'mallory', 'x', 200, ?, ?)",
      [seq, "0".repeat(64), hash],
    );
  const refusal = async (log: AuditLog): Promise<string | undefined> => {
    let refused: unknown;
    await log.checkpoint().catch((err: unknown) => (refused = err));
    return (refused as { code?: string } | undefined)?.code;
  };

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), "certvault-cp-"));
    db = await openDatabase(join(dir, "audit.db"));
    repo = new AuditRepository(db);
  });
  afterEach(async function () {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Deletes entry 3, re-links everything after it with fresh hashes, and deletes every checkpoint. */
  async function forge(): Promise<void> {
    const all = await repo.all();
    const kept = all.filter((e) => e.seq !== 3);
    await db("audit_entries").delete();
    await db("audit_checkpoints").delete();
    await repo.append(kept.map(({ seq: _s, prevHash: _p, hash: _h, ...e }) => e));
  }

  it("the same process refuses to sign the forged chain", async function () {
    const log = signingLog();
    for (let i = 0; i < 10; i++) await log.append(event(i));
    await log.checkpoint();
    expect((await verifyAudit(repo, paths())).ok).to.equal(true);
    await forge();
    await log.append(event(99));
    let refused: unknown;
    await log.checkpoint().catch((err: unknown) => (refused = err));
    expect((refused as { code?: string } | undefined)?.code).to.equal("audit_chain_broken");
    expect(await rowsIn(db, "audit_checkpoints")).to.equal(0);
    expect((await verifyAudit(repo, paths())).ok).to.equal(false);
  });

  it("a restarted process (starting from the anchor outside the database) refuses too", async function () {
    const first = signingLog();
    for (let i = 0; i < 10; i++) await first.append(event(i));
    await first.close();
    await forge();
    const second = signingLog();
    await second.append(event(100));
    let refused: unknown;
    await second.checkpoint().catch((err: unknown) => (refused = err));
    expect((refused as { code?: string } | undefined)?.code).to.equal("audit_chain_broken");
    const v = await verifyAudit(repo, paths());
    expect(v.ok).to.equal(false);
  });

  // The signer reads the entries in slices of 500 (audit-log.ts continuesFrom): a change in a later slice, or an entry
  // missing at a slice's first place, is found as surely as one in the first.
  for (const [what, tamper, message] of [
    [
      "an entry edited in the second slice",
      (d: Db) => d("audit_entries").where({ seq: 777 }).update({ actor: "mallory" }),
      "entry 777 does not continue the signed chain",
    ],
    [
      "the first entry of the third slice deleted",
      (d: Db) => d("audit_entries").where({ seq: 1001 }).delete(),
      "entry 1001 is missing",
    ],
    [
      "the last entry's hash changed",
      (d: Db) =>
        d("audit_entries")
          .where({ seq: 1200 })
          .update({ hash: "f".repeat(64) }),
      "entry 1200 does not continue the signed chain",
    ],
  ] as const) {
    it(`refuses to sign a long chain with ${what}`, async function () {
      const log = signingLog(1_000_000); // no checkpoint until the one below
      await Promise.all(Array.from({ length: 1200 }, (_, i) => log.append(event(i))));
      await tamper(db);
      let refused: unknown;
      await log.checkpoint().catch((err: unknown) => (refused = err));
      expect((refused as { code?: string } | undefined)?.code).to.equal("audit_chain_broken");
      expect((refused as Error).message).to.contain(message);
      expect(await rowsIn(db, "audit_checkpoints")).to.equal(0);
    });
  }

  // Rows a database writer made up (found by the attack review of the sliced check): a TEXT seq (it sorts above every
  // number and read back as NaN, which once switched the check off), a REAL one between two slices, and a tail row
  // changed between its read and its check. Each failed before the fix; each must be refused, with nothing signed.
  it("a TEXT seq row (tail seq NaN) is refused, and cannot unlock signing a rewritten chain", async function () {
    const log = signingLog(1_000_000);
    for (let i = 0; i < 10; i++) await log.append(event(i));
    await log.checkpoint(); // signed {10, h10}
    await plant("x", "a".repeat(64)); // sorts above every number: tail() -> seq NaN
    const first = await refusal(log);
    const signedNaN = await rowsIn(db, "audit_checkpoints");
    // Now rewrite history (entry 3 deleted, everything re-hashed, checkpoints deleted) and ask again.
    await db("audit_entries").where({ seq: "x" }).delete();
    await forge();
    await log.append(event(99));
    const second = await refusal(log);
    expect({ first, second, signedNaN, forgedCheckpoints: await rowsIn(db, "audit_checkpoints") }).to.deep.equal({
      first: "audit_chain_broken",
      second: "audit_chain_broken",
      signedNaN: 1,
      forgedCheckpoints: 0,
    });
  });

  it("a REAL seq row just after a slice boundary is refused", async function () {
    const log = signingLog(1_000_000);
    await Promise.all(Array.from({ length: 1200 }, (_, i) => log.append(event(i))));
    await plant(500.5, "b".repeat(64)); // between range(1,500) and range(501,1000)
    expect(await refusal(log)).to.equal("audit_chain_broken");
  });

  it("the hash signed is the one the check ended on (a row changed after the tail read)", async function () {
    // A writer who changes entry N between the signer's tail read and its range reads (simulated deterministically).
    class Racy extends AuditRepository {
      armed = false;
      override async tail(q?: Parameters<AuditRepository["tail"]>[0]) {
        const t = await super.tail(q);
        if (this.armed) {
          this.armed = false;
          await db("audit_entries").where({ seq: t.seq }).update({ hash: genuine });
        }
        return t;
      }
    }
    let genuine = "";
    const racy = new Racy(db);
    const log = signingLog(1_000_000, racy);
    await Promise.all(Array.from({ length: 1200 }, (_, i) => log.append(event(i))));
    genuine = ((await db("audit_entries").where({ seq: 1200 }).first("hash")) as { hash: string }).hash;
    await db("audit_entries")
      .where({ seq: 1200 })
      .update({ hash: "c".repeat(64) });
    racy.armed = true;
    await log.checkpoint().catch(() => undefined);
    const signed = (await db("audit_checkpoints").select("seq", "hash")) as { seq: number; hash: string }[];
    expect(signed.filter((c) => c.hash !== genuine)).to.deep.equal([]);
  });

  it("an honest chain keeps being signed, across restarts", async function () {
    const first = signingLog();
    for (let i = 0; i < 5; i++) await first.append(event(i));
    await first.close();
    const second = signingLog();
    for (let i = 5; i < 9; i++) await second.append(event(i));
    await second.close();
    expect(await verifyAudit(repo, paths())).to.deep.equal({ ok: true, entries: 9, checkpoints: 2 });
  });
});
