/**
 * Two certvault server processes on one PostgreSQL database, as behind a TCP load balancer: a record written through
 * one node is read through the other; a revocation by the CLI closes live connections on both within a second; four
 * writers on two nodes leave one audit chain that `certvault audit verify` accepts.
 * Needs a PostgreSQL server: CERTVAULT_TEST_DB or CERTVAULT_TEST_PG (postgres://...); .ci/run provides one.
 */
import { expect } from "chai";
import { Agent, request } from "node:https";
import type { TLSSocket } from "node:tls";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { createScratchDatabase } from "../../src/testing/scratch-db.js";
import type { ScratchDatabase } from "../../src/testing/scratch-db.js";
import { runCli } from "../helpers/cli.js";
import { startServerProcess, stopServerProcess } from "../helpers/server-process.js";
import type { ServerProcess } from "../helpers/server-process.js";
import { eventually } from "../helpers/eventually.js";
import { requireJudge } from "../helpers/judges.js";
import { countRows } from "../helpers/db.js";

const PG = process.env.CERTVAULT_TEST_DB ?? process.env.CERTVAULT_TEST_PG;

function call(
  agent: Agent,
  url: string,
  method = "GET",
  body?: string,
): Promise<{ status: number; body: Buffer; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent }, (res) => {
      const socket = res.socket as TLSSocket;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), socket }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("cluster: two API nodes on one PostgreSQL", function () {
  this.timeout(180_000);
  let scratch: ScratchDatabase;
  let ca: TestCA;
  let a: ServerProcess;
  let b: ServerProcess;
  const agents: Agent[] = [];
  const agentFor = (id: TestIdentity): Agent => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
    agents.push(agent);
    return agent;
  };

  before(async function () {
    requireJudge(this, "postgres");
    scratch = await createScratchDatabase(PG as string);
    ca = await createTestCA({ db: scratch.url });
    a = await startServerProcess(ca); // one after the other: the first start writes the server's TLS certificate
    b = await startServerProcess(ca);
  });
  after(async function () {
    for (const ag of agents) ag.destroy();
    if (a) await stopServerProcess(a);
    if (b) await stopServerProcess(b);
    if (ca) await ca.cleanup();
    if (scratch) await scratch.drop();
  });

  it("a record written through node A is read through node B", async function () {
    const alice = await ca.issueClient("alice");
    const agent = agentFor(alice);
    const put = await call(agent, `${a.url}/v1/records`, "POST", "written on A");
    expect(put.status).to.equal(201);
    const id = (JSON.parse(put.body.toString()) as { id: string }).id;
    const got = await call(agent, `${b.url}/v1/records/${id}`);
    expect(got.status).to.equal(200);
    expect(got.body[0]).to.equal(0x30); // the stored envelope
    const list = await call(agent, `${b.url}/v1/records`);
    expect((JSON.parse(list.body.toString()) as { records: { id: string }[] }).records.map((r) => r.id)).to.include(id);
  });

  it("a revocation by the CLI closes live connections on both nodes within 1 s", async function () {
    const eve = await ca.issueClient("eve");
    const onA = await call(agentFor(eve), `${a.url}/v1/me`);
    const onB = await call(agentFor(eve), `${b.url}/v1/me`);
    expect([onA.status, onB.status]).to.deep.equal([200, 200]);
    const closed: number[] = [];
    onA.socket.once("close", () => closed.push(Date.now()));
    onB.socket.once("close", () => closed.push(Date.now()));
    const r = await runCli(["ca", "revoke", ...ca.cliArgs, "--serial", eve.serial, "--reason", "keyCompromise"]);
    expect(r.code, r.stderr).to.equal(0);
    const revokedAt = Date.now();
    await eventually(() => closed.length >= 2, { what: "both live connections closed", timeoutMs: 1500 });
    expect(closed, "live connections still open").to.have.length(2);
    for (const t of closed) expect(t - revokedAt).to.be.at.most(1000);
  });

  it("four writers on two nodes, 2,000 audited requests each, leave one chain that audit verify accepts", async function () {
    const perWriter = 2000;
    const writers = await Promise.all([0, 1, 2, 3].map((i) => ca.issueClient(`writer${i}`)));
    await Promise.all(
      writers.map(async (w, i) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: ca.rootPem, cert: w.certPem, key: w.keyPem });
        agents.push(agent);
        const node = i % 2 === 0 ? a : b;
        let next = 0;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < perWriter) {
              next++;
              expect((await call(agent, `${node.url}/v1/me`)).status).to.equal(200);
            }
          }),
        );
      }),
    );
    const rows = await countRows(
      ca.db("audit_entries").whereIn(
        "actor",
        writers.map((w) => w.name),
      ),
    );
    expect(rows).to.equal(4 * perWriter);
    const verify = await runCli(["audit", "verify", ...ca.cliArgs]);
    expect(verify.code, verify.stderr).to.equal(0);
    const total = Number(/^ok (\d+) entries/.exec(verify.stdout)?.[1]);
    expect(total).to.be.at.least(4 * perWriter);
  });
});

describe("cluster: rate limits shared through PostgreSQL", function () {
  this.timeout(120_000);
  let scratch: ScratchDatabase;
  let ca: TestCA;
  let a: ServerProcess;
  let b: ServerProcess;

  before(async function () {
    requireJudge(this, "postgres");
    scratch = await createScratchDatabase(PG as string);
    ca = await createTestCA({ db: scratch.url });
    const env = { CERTVAULT_RATE_LIMIT_STORE: "database", CERTVAULT_RATE_LIMIT_IDENTITY: "5/60" };
    a = await startServerProcess(ca, env);
    b = await startServerProcess(ca, env);
  });
  after(async function () {
    if (a) await stopServerProcess(a);
    if (b) await stopServerProcess(b);
    if (ca) await ca.cleanup();
    if (scratch) await scratch.drop();
  });

  it("an identity's budget is one budget across nodes: 5 per minute means 5 in all, not 5 per node", async function () {
    const alice = await ca.issueClient("alice");
    const agent = new Agent({ keepAlive: true, ca: ca.rootPem, cert: alice.certPem, key: alice.keyPem });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await call(agent, `${(i % 2 === 0 ? a : b).url}/v1/me`)).status);
      expect(statuses).to.deep.equal([200, 200, 200, 200, 200, 429]);
    } finally {
      agent.destroy();
    }
  });
});
