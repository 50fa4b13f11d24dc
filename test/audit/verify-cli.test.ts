/**
 * `certvault audit verify` on a log written by a real server and by CA commands, then tampered with using the
 * `sqlite3` command-line tool (write access to the database, as an insider would have it).
 */
import { expect } from "chai";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { curl } from "../helpers/curl.js";
import { runCli } from "../helpers/cli.js";
import { sqlite3 } from "../helpers/db.js";

const sqlite = sqlite3;

describe("audit verify, against sqlite3 tampering", function () {
  let ca: TestCA;
  let work: string;
  let entries: number;

  before(async function () {
    ca = await createTestCA();
    work = mkdtempSync(join(tmpdir(), "certvault-audit-"));
    const server = await startTestServer({ ca });
    const alice = await ca.issueClient("alice");
    for (let i = 0; i < 6; i++)
      expect((await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: alice })).status).to.equal(200);
    expect(
      (await curl(`${server.url}/v1/records`, { cacert: ca.paths.rootCert, id: alice, data: "x" })).status,
    ).to.equal(201);
    expect(
      (await curl(`${server.url}/v1/records/${"0".repeat(32)}`, { cacert: ca.paths.rootCert, id: alice })).status,
    ).to.equal(404);
    await server.stop(); // signs a last checkpoint over everything
    entries = Number(await sqlite(join(ca.home, "certvault.db"), "SELECT count(*) FROM audit_entries"));
  });
  after(async function () {
    await ca.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  /** A copy of the operator's home (database, audit key, anchor), so each case starts from the untouched log. */
  function copyHome(name: string): { home: string; db: string } {
    const home = join(work, name);
    cpSync(ca.home, home, { recursive: true });
    return { home, db: join(home, "certvault.db") };
  }

  it("passes on the untouched log: ok N entries", async function () {
    // alice's 9 (6 x me, a POST and its attempt, a 404), plus the server's own CA operations (CRLs it issued).
    expect(
      Number(await sqlite(join(ca.home, "certvault.db"), "SELECT count(*) FROM audit_entries WHERE actor = 'alice'")),
    ).to.equal(9);
    expect(
      Number(
        await sqlite(
          join(ca.home, "certvault.db"),
          "SELECT count(*) FROM audit_entries WHERE actor = 'certvault' AND action = 'ca.crl'",
        ),
      ),
    ).to.be.at.least(2);
    const { home } = copyHome("untouched");
    const r = await runCli(["audit", "verify", "--home", home]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(new RegExp(`^ok ${entries} entries`));
    const rows = await sqlite(join(home, "certvault.db"), "SELECT count(*) FROM audit_checkpoints");
    expect(Number(rows)).to.be.at.least(1);
  });

  it("records API accesses with identity, serial, action, record id, status and request id, never content", async function () {
    const { home } = copyHome("export");
    const r = await runCli(["audit", "export", "--home", home]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).to.have.length(entries);
    const miss = lines.find((l) => l.status === 404);
    expect(miss).to.include({ actor: "alice", action: "records.get", recordId: "0".repeat(32) });
    expect(miss?.requestId).to.be.a("string");
    expect(miss?.serial).to.match(/^[0-9a-f]+$/);
    expect(r.stdout).to.not.include('"x"');
  });

  const cases: [string, (db: string) => Promise<void>, number, RegExp][] = [
    [
      "editing a row's field",
      (db) => sqlite(db, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 5").then(() => undefined),
      5,
      /entry 5 was altered/,
    ],
    [
      "deleting a row",
      (db) => sqlite(db, "DELETE FROM audit_entries WHERE seq = 7").then(() => undefined),
      7,
      /entry 7 is missing/,
    ],
    [
      "swapping two rows",
      (db) =>
        sqlite(
          db,
          "UPDATE audit_entries SET seq = -1 WHERE seq = 3; UPDATE audit_entries SET seq = 3 WHERE seq = 4; UPDATE audit_entries SET seq = 4 WHERE seq = -1;",
        ).then(() => undefined),
      3,
      /entry 3 does not follow entry 2/,
    ],
    [
      "truncating the tail past the last checkpoint",
      (db) => sqlite(db, "DELETE FROM audit_entries WHERE seq > 4").then(() => undefined),
      5,
      /entry 5 is missing/,
    ],
    [
      "truncating the tail and deleting the checkpoints too",
      (db) =>
        sqlite(db, "DELETE FROM audit_entries WHERE seq > 4; DELETE FROM audit_checkpoints;").then(() => undefined),
      5,
      /entry 5 is missing: the checkpoint anchor/,
    ],
  ];
  for (const [name, tamper, seq, message] of cases) {
    it(`fails after ${name}, naming entry ${seq}`, async function () {
      const { home, db } = copyHome(name.replace(/\W+/g, "-"));
      await tamper(db);
      const r = await runCli(["audit", "verify", "--home", home]);
      expect(r.code, r.stdout).to.equal(1);
      expect(r.stderr).to.match(message);
      expect(r.stdout).to.not.match(/^ok/);
    });
  }
});
