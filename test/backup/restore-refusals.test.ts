/**
 * What restore refuses, and that a refusal changes nothing: a target database that exists, a backup with any byte
 * flipped (manifest, snapshot or digest), a PostgreSQL target. And the restore onto a HOME whose audit anchor is newer
 * than the backup (the keys were saved after it): the lost range is named, and the restored chain verifies.
 */
import { expect } from "chai";
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { TempDirs, runCli } from "../helpers/cli.js";
import { curl } from "../helpers/curl.js";

const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("restore refusals: nothing is overwritten, nothing damaged is restored", function () {
  this.timeout(120_000);
  const tmp = new TempDirs();
  let ca: TestCA;
  let backup: string;
  let work: string;

  before(async function () {
    ca = await createTestCA();
    const server = await startTestServer({ ca });
    const alice = await ca.issueClient("alice");
    for (let i = 0; i < 3; i++)
      expect(
        (await curl(`${server.url}/v1/records`, { cacert: ca.paths.rootCert, id: alice, data: `record ${i}` })).status,
      ).to.equal(201);
    work = tmp.make("certvault-restore-");
    backup = join(work, "b.cvbackup");
    const b = await runCli(["backup", ...ca.cliArgs, "--out", backup]);
    expect(b.code, b.stderr).to.equal(0);
    expect(statSync(backup).mode & 0o777).to.equal(0o600);
    // More traffic after the backup, then a stop: the anchor in HOME/audit now covers entries the backup lacks.
    for (let i = 0; i < 3; i++)
      expect((await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: alice })).status).to.equal(200);
    await server.stop();
  });
  after(async function () {
    await ca.cleanup();
    tmp.cleanup();
  });

  /** A new HOME holding the operator's CA and audit material, as the docs have it restored. */
  function newHome(name: string): string {
    const home = join(work, name);
    cpSync(join(ca.home, "ca"), join(home, "ca"), { recursive: true });
    cpSync(join(ca.home, "audit"), join(home, "audit"), { recursive: true });
    return home;
  }

  it("refuses to restore over an existing database (exit 1) and leaves it byte for byte as it was", async function () {
    const db = join(ca.home, "certvault.db");
    const before = { hash: sha256(db), mtime: statSync(db).mtimeMs };
    const r = await runCli(["restore", "--from", backup, ...ca.cliArgs]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/exists: restore writes only a new database, never over one/);
    expect({ hash: sha256(db), mtime: statSync(db).mtimeMs }).to.deep.equal(before);
    // An empty file where the database would go is refused as well.
    const home = newHome("has-empty-db");
    writeFileSync(join(home, "certvault.db"), "");
    expect((await runCli(["restore", "--from", backup, "--home", home])).code).to.equal(1);
    expect(statSync(join(home, "certvault.db")).size).to.equal(0);
  });

  it("refuses a backup with one byte flipped anywhere, and writes no database", async function () {
    const bytes = readFileSync(backup);
    const manifestAt = bytes.indexOf("createdAt") + 16; // a digit of the time: still valid JSON, a different manifest
    const snapshotAt = bytes.indexOf("SQLite format 3") + 5000;
    for (const [where, offset] of [
      ["manifest", manifestAt],
      ["snapshot", snapshotAt],
      ["digest", bytes.length - 1],
    ] as const) {
      const tampered = Buffer.from(bytes);
      tampered[offset] = (tampered[offset] as number) ^ 0x01;
      const file = join(work, `tampered-${where}.cvbackup`);
      writeFileSync(file, tampered);
      const target = join(work, `target-${where}`);
      const r = await runCli([
        "restore",
        "--from",
        file,
        "--db",
        join(target, "certvault.db"),
        "--home",
        newHome(`home-${where}`),
      ]);
      expect(r.code, `${where}: ${r.stderr}`).to.equal(1);
      expect(r.stderr, where).to.match(/digest does not match|SHA-256 does not match|manifest/);
      expect(existsSync(target), `${where}: the target directory was left behind`).to.equal(false);
      const v = await runCli(["backup", "verify", "--from", file, "--home", ca.home]);
      expect(v.code, where).to.equal(1);
    }
    const ok = await runCli(["backup", "verify", "--from", backup, "--home", ca.home]);
    expect(ok.code, ok.stderr).to.equal(0);
  });

  it("refuses a PostgreSQL target, pointing to the pg_dump procedure", async function () {
    for (const args of [
      ["backup", "--out", join(work, "pg.cvbackup")],
      ["restore", "--from", backup],
    ]) {
      const r = await runCli([...args, "--home", work, "--db", "postgres://certvault@127.0.0.1:1/none"]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/pg_dump\/pg_restore as docs\/deploy\.md "Backups"/);
    }
    expect(existsSync(join(work, "pg.cvbackup"))).to.equal(false);
  });

  it("restores onto a HOME whose anchor is newer than the backup: names the lost entries, and audit verify passes", async function () {
    const home = newHome("anchor-ahead");
    const r = await runCli(["restore", "--from", backup, "--home", home]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/written after this backup .*lost with the old database/);
    const v = await runCli(["audit", "verify", "--home", home]);
    expect(v.code, v.stderr + v.stdout).to.equal(0);
    expect(statSync(join(home, "certvault.db")).mode & 0o777).to.equal(0o600);
  });
});
