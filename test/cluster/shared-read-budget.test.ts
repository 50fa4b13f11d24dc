/**
 * The read budgets are one budget across nodes and restarts (issue 16): two certvault server processes on one
 * PostgreSQL database, bulk_read at 30 distinct records per 10 minutes. Reads alternated over both nodes are refused
 * at the 30th (not the 60th, as when each node counted alone); a node restarted mid-drain still refuses at the 30th
 * (a restart used to forget its count). Both failed before the change: 60 and 45 records were served.
 * Needs a PostgreSQL server: CERTVAULT_TEST_DB or CERTVAULT_TEST_PG (postgres://...); .ci/run provides one.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "node:https";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { createScratchDatabase } from "../../src/testing/scratch-db.js";
import type { ScratchDatabase } from "../../src/testing/scratch-db.js";
import { RecordRepository } from "../../src/store/records.js";
import { startServerProcess, stopServerProcess } from "../helpers/server-process.js";
import type { ServerProcess } from "../helpers/server-process.js";
import { eventually } from "../helpers/eventually.js";
import { requireJudge } from "../helpers/judges.js";

const PG = process.env.CERTVAULT_TEST_DB ?? process.env.CERTVAULT_TEST_PG;
const THRESHOLD = 30;

function get(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("cluster: read budgets shared by two nodes and kept across a restart", function () {
  this.timeout(180_000);
  let scratch: ScratchDatabase;
  let ca: TestCA;
  let env: Record<string, string>;
  const nodes: ServerProcess[] = [];
  const agents: Agent[] = [];
  const agentFor = (id: TestIdentity): Agent => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
    agents.push(agent);
    return agent;
  };
  const seed = async (owner: string, n: number): Promise<string[]> => {
    const repo = new RecordRepository(ca.db);
    const ids = Array.from({ length: n }, () => randomBytes(16).toString("hex"));
    for (const id of ids)
      await repo.insert({ id, owner, envelope: randomBytes(64), now: new Date(Date.now() - 86_400_000) });
    return ids;
  };

  before(async function () {
    requireJudge(this, "postgres");
    scratch = await createScratchDatabase(PG as string);
    ca = await createTestCA({ db: scratch.url });
    const config = join(ca.home, "anomaly.json");
    writeFileSync(config, JSON.stringify({ distinctRecords: THRESHOLD }));
    env = { CERTVAULT_ANOMALY_CONFIG: config };
    nodes.push(await startServerProcess(ca, env)); // one after the other: the first start writes the server's TLS certificate
    nodes.push(await startServerProcess(ca, env));
  });
  after(async function () {
    for (const ag of agents) ag.destroy();
    for (const n of nodes) await stopServerProcess(n);
    if (ca) await ca.cleanup();
    if (scratch) await scratch.drop();
  });

  it("reads alternated over both nodes are refused at the threshold, not twice it", async function () {
    const mallory = await ca.issueClient("mallory");
    const ids = await seed("mallory", 2 * THRESHOLD + 10);
    const [a, b] = [agentFor(mallory), agentFor(mallory)];
    let served = 0;
    let refused = 0;
    for (const [i, id] of ids.entries()) {
      const status = await get(i % 2 === 0 ? a : b, `${(nodes[i % 2] as ServerProcess).url}/v1/records/${id}`);
      if (status !== 200) {
        refused = status;
        break;
      }
      served++;
    }
    expect(served, "records served over both nodes").to.equal(THRESHOLD - 1);
    expect(refused).to.equal(403);
    // The refusal comes from the node's memory at once; the stored quarantine follows (polled for, at most 3 s).
    const row = await eventually(
      async () =>
        (await ca.db("quarantine").where({ identity: "mallory" }).first("rule")) as { rule: string } | undefined,
      { what: "mallory's stored quarantine", timeoutMs: 3000 },
    );
    expect(row?.rule).to.equal("bulk_read");
  });

  it("a node restarted mid-drain still refuses at the threshold", async function () {
    const drip = await ca.issueClient("drip");
    const ids = await seed("drip", 2 * THRESHOLD);
    let agent = agentFor(drip);
    const other = agentFor(drip);
    for (const id of ids.slice(0, 10))
      expect(await get(agent, `${(nodes[0] as ServerProcess).url}/v1/records/${id}`)).to.equal(200);
    for (const id of ids.slice(10, 15))
      expect(await get(other, `${(nodes[1] as ServerProcess).url}/v1/records/${id}`)).to.equal(200);
    await stopServerProcess(nodes[0] as ServerProcess);
    nodes[0] = await startServerProcess(ca, env);
    agent = agentFor(drip);
    let served = 15;
    for (const id of ids.slice(15)) {
      const status = await get(agent, `${nodes[0].url}/v1/records/${id}`);
      if (status !== 200) {
        expect(status).to.equal(403);
        break;
      }
      served++;
    }
    expect(served, "records served before and after the restart").to.equal(THRESHOLD - 1);
  });
});
