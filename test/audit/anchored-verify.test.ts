/**
 * `audit verify` needs a trusted anchor (issue 16): a database writer who removes an entry, re-links the chain and
 * deletes every checkpoint row fails verification from a fresh HOME that holds only audit.pub and the checkpoint
 * export; `--hashes-only` passes that chain but says it checked no anchor; the untouched trail still gives `ok N entries`.
 */
import { expect } from "chai";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { openDatabase } from "../../src/store/db.js";
import { curl } from "../helpers/curl.js";
import { runCli, TempDirs } from "../helpers/cli.js";
import { forgeAuditChain } from "../helpers/audit-forge.js";
import { rowsIn } from "../helpers/db.js";

describe("audit verify: anchored in signed checkpoints outside the database", function () {
  const tmp = new TempDirs();
  let ca: TestCA;
  let pub: string;
  let exported: string;
  let entries: number;

  before(async function () {
    ca = await createTestCA();
    // The database copies below are SQLite files (VACUUM INTO); the rule under test does not depend on the database.
    if (ca.dbTarget.startsWith("postgres")) this.skip();
    const server = await startTestServer({ ca });
    const alice = await ca.issueClient("alice");
    for (let i = 0; i < 5; i++)
      expect((await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: alice })).status).to.equal(200);
    await server.stop(); // signs a last checkpoint over everything
    entries = await rowsIn(ca.db, "audit_entries");
    const ship = tmp.make("certvault-ship-");
    pub = join(ship, "audit.pub");
    cpSync(join(ca.home, "audit", "audit.pub"), pub);
    exported = join(ship, "checkpoints.jsonl");
    const r = await runCli(["audit", "checkpoints", ...ca.cliArgs, "--export", exported]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^exported \d+ new checkpoints to /);
  });
  after(async function () {
    await ca.cleanup();
    tmp.cleanup();
  });

  /** A copy of the database (the untouched one, or rewritten by a database writer), and a HOME holding nothing. */
  async function database(forged: boolean): Promise<{ db: string; home: string }> {
    const dir = tmp.make("certvault-verify-");
    const db = join(dir, "certvault.db");
    await ca.db.raw("VACUUM INTO ?", [db]);
    if (forged) {
      const handle = await openDatabase(db);
      try {
        expect(await forgeAuditChain(handle, 3)).to.deep.equal({ before: entries, after: entries });
      } finally {
        await handle.destroy();
      }
    }
    return { db, home: join(dir, "home") };
  }
  const verify = (d: { db: string; home: string }, ...extra: string[]) =>
    runCli(["audit", "verify", "--home", d.home, "--db", d.db, ...extra]);

  it("the untouched trail: ok N entries, anchored, in the operator's HOME and on any machine with audit.pub and the export", async function () {
    const home = await runCli(["audit", "verify", ...ca.cliArgs]);
    expect(home.code, home.stderr).to.equal(0);
    expect(home.stdout).to.match(
      new RegExp(`^ok ${entries} entries \\(\\d+ signed checkpoints\\), anchored at entry ${entries} by `),
    );
    const elsewhere = await verify(await database(false), "--audit-pub", pub, "--checkpoints", exported);
    expect(elsewhere.code, elsewhere.stderr).to.equal(0);
    expect(elsewhere.stdout).to.match(
      new RegExp(`^ok ${entries} entries .*anchored at entry ${entries} by .*checkpoints\\.jsonl$`, "m"),
    );
  });

  it("the export holds the genesis record and every checkpoint the node signed, each line as checkpoints.log has it", function () {
    const lines = readFileSync(exported, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number; hash: string });
    expect(lines[0]).to.deep.include({ seq: 0, hash: "0".repeat(64) });
    expect(lines[lines.length - 1]?.seq).to.equal(entries);
    const log = readFileSync(join(ca.home, "audit", "checkpoints.log"), "utf8")
      .trim()
      .split("\n");
    expect(log.map((l) => (JSON.parse(l) as { seq: number }).seq)).to.deep.equal(lines.map((l) => l.seq));
  });

  it("the rewritten chain with its checkpoints deleted fails from a fresh HOME with audit.pub and the export", async function () {
    const forged = await database(true);
    const r = await verify(forged, "--audit-pub", pub, "--checkpoints", exported);
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stderr).to.match(
      new RegExp(
        `entry ${entries} does not match the checkpoint anchor outside the database \\(.*checkpoints\\.jsonl\\): the chain was rewritten`,
      ),
    );
    expect(r.stdout).to.not.match(/^ok/m);
  });

  it("without any trusted anchor, verify fails (audit_anchor_missing) instead of trusting what the database says", async function () {
    const forged = await database(true);
    // "any machine with the audit public key": a HOME holding audit.pub and nothing else.
    mkdirSync(join(forged.home, "audit"), { recursive: true });
    cpSync(pub, join(forged.home, "audit", "audit.pub"));
    const r = await verify(forged);
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stderr).to.match(/no trusted anchor: no signed checkpoint from outside the database/);
    const j = await verify(forged, "--json");
    expect(JSON.parse(j.stdout)).to.deep.include({ ok: false, code: "audit_anchor_missing" });
  });

  it("--hashes-only passes the rewritten chain, and says that no signed anchor was checked", async function () {
    const r = await verify(await database(true), "--audit-pub", pub, "--hashes-only");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`ok ${entries} entries (hashes only: no signed anchor checked)\n`);
  });

  it("an export whose line was altered is refused, naming the entry", async function () {
    const lines = readFileSync(exported, "utf8").trim().split("\n");
    const last = JSON.parse(lines[lines.length - 1] as string) as { seq: number; hash: string };
    const altered = join(tmp.make("certvault-altered-"), "checkpoints.jsonl");
    writeFileSync(
      altered,
      [...lines.slice(0, -1), JSON.stringify({ ...last, hash: "f".repeat(64) })].join("\n") + "\n",
    );
    const r = await verify(await database(false), "--audit-pub", pub, "--checkpoints", altered);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(
      new RegExp(`the checkpoint at entry ${last.seq} in .*checkpoints\\.jsonl has a bad signature`),
    );
  });
});
