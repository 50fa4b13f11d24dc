/**
 * A node never signs over a chain it cannot connect to a signed checkpoint it trusts (issue 16). After a database
 * writer rewrites the chain and deletes every checkpoint row, a node started with a fresh HOME (CA and audit keys,
 * none of the checkpoint files) signs nothing, and neither does one given the exported checkpoints; each raises
 * certvault_audit_chain_broken and an alert on the webhook. An honest chain is still signed by a node that imported
 * the export.
 */
import { expect } from "chai";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { curl } from "../helpers/curl.js";
import { runCli, TempDirs } from "../helpers/cli.js";
import { forgeAuditChain, homeWithoutCheckpoints } from "../helpers/audit-forge.js";
import { rowsIn } from "../helpers/db.js";

type Alert = Record<string, unknown>;

/** A local webhook receiver: every POSTed JSON body, and a promise for the one after the first `seen`. */
class Receiver {
  readonly alerts: Alert[] = [];
  private waiting: (() => void)[] = [];
  private readonly server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const a = JSON.parse(body) as Alert;
      this.alerts.push(a);
      for (const w of this.waiting.splice(0)) w();
      res.end();
    });
  });
  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  async after(seen: number): Promise<Alert> {
    while (this.alerts.length <= seen) await new Promise<void>((r) => this.waiting.push(r));
    return this.alerts[seen] as Alert;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe("audit: a node with no trusted checkpoint never signs a rewritten chain", function () {
  const tmp = new TempDirs();
  const receiver = new Receiver();
  let hook: string;
  let ca: TestCA;
  let alice: TestIdentity;
  let ops: TestIdentity;
  let exported: string;
  const checkpointRows = (): Promise<number> => rowsIn(ca.db, "audit_checkpoints");

  before(async function () {
    hook = await receiver.start();
    ca = await createTestCA();
    [alice, ops] = [await ca.issueClient("alice"), await ca.issueClient("ops")];
    const first = await startTestServer({ ca });
    for (let i = 0; i < 5; i++)
      expect((await curl(`${first.url}/v1/me`, { cacert: ca.paths.rootCert, id: alice })).status).to.equal(200);
    await first.stop();
    exported = join(tmp.make("certvault-ship-"), "checkpoints.jsonl");
    const r = await runCli(["audit", "checkpoints", ...ca.cliArgs, "--export", exported]);
    expect(r.code, r.stderr).to.equal(0);
  });
  after(async function () {
    await ca.cleanup();
    await receiver.stop();
    tmp.cleanup();
  });

  /** Starts a node on `home` that checkpoints after every entry and alerts to the receiver. */
  const node = (home: string) =>
    startTestServer({ ca, config: { home, auditCheckpointEvery: 1, alertWebhook: hook, adminIdentities: ["ops"] } });
  const importInto = async (home: string): Promise<void> => {
    const r = await runCli(["audit", "checkpoints", "--home", home, "--db", ca.dbTarget, "--import", exported]);
    expect(r.code, r.stderr).to.equal(0);
  };

  it("an honest chain: a fresh HOME that imported the export signs, raises nothing", async function () {
    const home = homeWithoutCheckpoints(ca.home, tmp.make("certvault-node-"));
    await importInto(home);
    const rows = await checkpointRows();
    const server = await node(home);
    expect((await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: alice })).status).to.equal(200);
    const metrics = await curl(`${server.url}/metrics`, { cacert: ca.paths.rootCert, id: ops });
    await server.stop();
    expect(await checkpointRows()).to.be.greaterThan(rows);
    expect(metrics.body.toString()).to.match(/^certvault_audit_chain_broken 0$/m);
    expect(receiver.alerts).to.deep.equal([]);
  });

  const cases: [string, (home: string) => Promise<void>, RegExp][] = [
    ["with nothing but the keys (a fresh HOME)", async () => undefined, /this node trusts no signed checkpoint/],
    [
      "that imported the exported checkpoints",
      importInto,
      /does not continue the signed chain|no longer matches the last signed checkpoint/,
    ],
  ];
  for (const [name, prepare, problem] of cases) {
    it(`after the rewrite, a node ${name} signs nothing: no checkpoint row, the metric and an alert`, async function () {
      if ((await checkpointRows()) > 0) await forgeAuditChain(ca.db, 3);
      expect(await checkpointRows()).to.equal(0);
      const home = homeWithoutCheckpoints(ca.home, tmp.make("certvault-node-"));
      await prepare(home);
      const seen = receiver.alerts.length;
      const server = await node(home);
      expect((await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: alice })).status).to.equal(200);
      const alert = await receiver.after(seen);
      expect(alert).to.include({ alert: "audit_chain_broken", code: "audit_chain_broken", severity: "high" });
      expect(alert.message).to.match(problem);
      const metrics = (await curl(`${server.url}/metrics`, { cacert: ca.paths.rootCert, id: ops })).body.toString();
      expect(metrics).to.match(/^certvault_audit_chain_broken 1$/m);
      expect(Number(/^certvault_audit_checkpoint_refusals_total (\d+)$/m.exec(metrics)?.[1])).to.be.at.least(1);
      await server.stop(); // and its last checkpoint on close is refused too
      expect(await checkpointRows()).to.equal(0);
      expect(existsSync(join(home, "audit", "anchor.json"))).to.equal(false);
    });
  }
});
