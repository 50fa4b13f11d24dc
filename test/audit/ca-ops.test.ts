/** CA operations run through the CLI leave audit entries, and are refused when their entry cannot be written. */
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { opensslOk } from "../helpers/openssl.js";
import { sqlite3, sqlite3Count } from "../helpers/db.js";

describe("audit: CA operations from the CLI", function () {
  this.timeout(60_000);
  let dir: string;
  let home: string;
  let args: string[];

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "certvault-ca-audit-"));
    home = join(dir, "home");
    const pass = join(dir, "pass.txt");
    writeFileSync(pass, "ca audit passphrase\n", { mode: 0o600 });
    args = ["--home", home, "--passphrase-file", pass];
    expect((await runCli(["ca", "init", ...args])).code).to.equal(0);
    await opensslOk([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "k.pem"),
      "-subj",
      "/CN=carol",
      "-out",
      join(dir, "r.csr"),
    ]);
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("init, issue, revoke and crl are each recorded as an attempt and an outcome, by the operating-system user", async function () {
    const issue = await runCli(["ca", "issue", ...args, "--csr", join(dir, "r.csr"), "--profile", "client", "--json"]);
    expect(issue.code, issue.stderr).to.equal(0);
    const serial = (JSON.parse(issue.stdout) as { serial: string }).serial;
    expect((await runCli(["ca", "revoke", ...args, "--serial", serial, "--reason", "keyCompromise"])).code).to.equal(0);
    expect((await runCli(["ca", "crl", ...args])).code).to.equal(0);
    const exp = await runCli(["audit", "export", "--home", home]);
    expect(exp.code, exp.stderr).to.equal(0);
    const rows = exp.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { actor: string; action: string; detail: Record<string, unknown> });
    const seen = rows.map((r) => `${r.action}:${String(r.detail.phase)}`);
    expect(seen).to.deep.equal([
      "ca.init:attempt",
      "ca.init:done",
      "ca.issue:attempt",
      "ca.issue:done",
      "ca.revoke:attempt",
      "ca.revoke:done",
      "ca.crl:attempt",
      "ca.crl:done",
    ]);
    expect(rows.every((r) => r.actor.startsWith("cli:"))).to.equal(true);
    expect(rows[3]?.detail).to.include({ serial, identity: "carol" });
    expect(rows[5]?.detail).to.include({ serial, reason: "keyCompromise" });
    const verify = await runCli(["audit", "verify", "--home", home]);
    expect(verify.code, verify.stderr).to.equal(0);
    expect(verify.stdout).to.match(/^ok 8 entries/);
  });

  it("refuses to issue when the audit log cannot be written, and the registry stays as it was", async function () {
    const db = join(home, "certvault.db");
    const count = (): Promise<number> => sqlite3Count(db, "SELECT count(*) FROM certificates");
    const before = await count();
    await sqlite3(db, "CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'no'); END;");
    try {
      const r = await runCli(["ca", "issue", ...args, "--csr", join(dir, "r.csr"), "--profile", "client"]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/audit log cannot be written/);
      expect(r.stdout).to.not.match(/BEGIN CERTIFICATE/);
      expect(await count()).to.equal(before);
    } finally {
      await sqlite3(db, "DROP TRIGGER no_audit;");
    }
  });
});
