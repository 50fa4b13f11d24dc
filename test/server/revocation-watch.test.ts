/**
 * The revocation watcher after stop(): a notification that arrives while the server shuts down (PostgreSQL NOTIFY,
 * server/index.ts stops listening first, this is the second line) must not poll a database that is closing. Real
 * database, real CA; the watcher's error callback is the judge.
 */
import { expect } from "chai";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { openAuthority } from "../helpers/ca-fixture.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import { RevocationWatcher } from "../../src/server/revocation/revocation-watch.js";

describe("server: revocation watcher", function () {
  this.timeout(60_000);
  let ca: TestCA;

  before(async function () {
    ca = await createTestCA();
  });
  after(async function () {
    await ca.cleanup();
  });

  it("polls nothing once stopped: a late notification does not reach a closed database", async function () {
    const { ca: authority, db } = await openAuthority(ca);
    const errors: unknown[] = [];
    let crls = 0;
    const watcher = new RevocationWatcher(new CertificateRepository(db), authority, {
      pollMs: 3_600_000,
      crlDays: 7,
      now: () => new Date(),
      onCrl: () => crls++,
      onError: (err) => errors.push(err),
      vetting: { usable: async (rows) => [...rows] },
    });
    await watcher.start();
    expect(watcher.ready).to.equal(true);
    expect(crls).to.equal(1);
    // Before stop() a poll does reach the database: with it closed, that is an error (the judge works).
    await db.destroy();
    await watcher.poll();
    expect(errors).to.have.length(1);
    await watcher.stop();
    await watcher.poll();
    expect(errors, "a poll after stop() touched the closed database").to.have.length(1);
  });

  it("a fresh read hands on the cached row object while the stored row is unchanged, and the stored row once a writer changed it", async function () {
    await ca.issueClient("alice");
    const other = await ca.issueClient("bob");
    const { ca: authority, db } = await openAuthority(ca);
    try {
      const watcher = new RevocationWatcher(new CertificateRepository(db), authority, {
        pollMs: 3_600_000,
        crlDays: 7,
        now: () => new Date(),
        onCrl: () => undefined,
        onError: (err) => {
          throw err;
        },
        vetting: { usable: async (rows) => [...rows] },
      });
      await watcher.start();
      const cached = await watcher.activeCertificates("alice");
      expect(cached).to.have.length(1);
      const fresh = await watcher.activeCertificatesNow("alice");
      // The same object: vetting's per-row cache (registry-vetting.ts) finds it without hashing the PEM again.
      expect(fresh[0]).to.equal(cached[0]);
      // A database writer swaps the row's PEM (no revision bump): the fresh read must not hand on the stale object.
      await db("certificates").where({ serial: cached[0]?.serial }).update({ pem: other.certPem });
      const changed = await watcher.activeCertificatesNow("alice");
      expect(changed[0]).to.not.equal(cached[0]);
      expect(changed[0]?.pem).to.equal(other.certPem);
      await watcher.stop();
    } finally {
      await db.destroy();
    }
  });
});
