/**
 * The anomaly rules see what a route did as its handler reports it (server/routes.ts RouteOutcome), not as the
 * control guesses from the request: a list walk that repeats its cursor parameter (?cursor=C&cursor=C, which the
 * route reads as C) is still a walk. Before the handler reported it, the control read ctx.query.cursor, an array
 * there, and counted no page at all: list_walk could be dodged by doubling the parameter.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { Agent } from "node:https";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { RecordRepository } from "../../src/store/records.js";
import { getText as get } from "../helpers/https.js";

describe("server: the anomaly rules see the route's own outcome", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  const agents: Agent[] = [];

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, config: { adminIdentities: ["ops"] } });
  });
  after(async function () {
    for (const a of agents) a.destroy();
    await server.stop();
    await ca.cleanup();
  });

  async function agentFor(name: string): Promise<Agent> {
    const id = await ca.issueClient(name);
    const a = new Agent({ keepAlive: true, maxSockets: 2, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
    agents.push(a);
    return a;
  }

  async function listWalkAlerts(ops: Agent): Promise<number> {
    const metrics = await get(ops, `${server.url}/metrics`);
    expect(metrics.status).to.equal(200);
    const m = /^certvault_anomaly_alerts_total\{[^}]*rule="list_walk"[^}]*\} (\d+)$/m.exec(metrics.body);
    return Number(m?.[1] ?? 0);
  }

  it("a list walk that doubles its cursor parameter is counted as a walk (list_walk fires)", async function () {
    const ops = await agentFor("ops");
    const walker = await agentFor("walker");
    const repo = new RecordRepository(ca.db);
    for (let i = 0; i < 2; i++)
      await repo.insert({
        id: randomBytes(16).toString("hex"),
        owner: "walker",
        envelope: randomBytes(64),
        now: new Date(),
      });
    const first = await get(walker, `${server.url}/v1/records?limit=1`);
    const cursor = (JSON.parse(first.body) as { next: string | null }).next;
    expect(cursor, "a second page exists").to.be.a("string");
    expect(await listWalkAlerts(ops)).to.equal(0);
    // Threshold: 20 continued pages within the window (anomaly/rules.ts DEFAULT_THRESHOLDS.listPages).
    for (let i = 0; i < 25; i++) {
      const page = await get(walker, `${server.url}/v1/records?limit=1&cursor=${cursor}&cursor=${cursor}`);
      expect(page.status).to.equal(200);
      // The route read the cursor: this is the second page, not the first again.
      expect(page.body).to.not.equal(first.body);
    }
    expect(await listWalkAlerts(ops)).to.equal(1);
  });
});
