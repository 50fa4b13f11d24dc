/**
 * The window rules' counts are one count across nodes and restarts (issue 16): two server nodes over ONE database
 * (the same SQLite file, or one PostgreSQL database with CERTVAULT_TEST_DB), each with its own process state, on an
 * injected clock held still so that no window rolls mid-test. Requests alternated over both nodes trip id_guessing,
 * list_walk and volume at the threshold they have on one node, within the margin anomaly/shared-detector.ts states
 * (0 for id_guessing and list_walk, N x (K - 1) = 2 for volume at volumeMin 40, K = 2); a node restarted mid-run keeps
 * the count. All failed before the change (each node counted alone, in memory): about twice the threshold was
 * answered over two nodes, and the restarted node started again from zero.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { Agent } from "node:https";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { eventually } from "../helpers/eventually.js";
import { RecordRepository } from "../../src/store/records.js";
import { thresholdsFrom } from "../../src/anomaly/rules.js";
import { getText as call } from "../helpers/https.js";

/** The identity's quarantine row once it is there (at most 3 s); undefined if it never comes. */
async function quarantineOf(ca: TestCA, identity: string): Promise<{ rule: string; reason: string } | undefined> {
  const row = (): Promise<{ rule: string; reason: string } | undefined> =>
    ca.db("quarantine").where({ identity }).first("rule", "reason");
  return eventually(row, { what: `a quarantine of ${identity}`, timeoutMs: 3000, intervalMs: 50 }).catch(
    () => undefined,
  );
}

describe("server: window rules shared by two nodes on one database and kept across a restart", function () {
  this.timeout(180_000);
  const NOT_FOUND = 10;
  const PAGES = 8;
  const VOLUME = 40;
  let ca: TestCA;
  const nodes: TestServer[] = [];
  // Held still while a test runs (windows do not roll under it); true otherwise (the CRL is dated by it).
  let frozen: number | undefined;
  const agents: Agent[] = [];
  const agentFor = (id: TestIdentity): Agent => {
    const a = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
    agents.push(a);
    return a;
  };
  const start = () =>
    startTestServer({
      ca,
      now: () => new Date(frozen ?? Date.now()),
      config: {
        anomaly: thresholdsFrom({
          notFound: NOT_FOUND,
          listPages: PAGES,
          volumeMin: VOLUME,
          severity: { list_walk: "high", volume: "high" },
        }),
        rateLimits: { identity: { points: 0, seconds: 1 }, source: { points: 0, seconds: 1 } },
      },
    });

  /**
   * Sends `path()` through the nodes in turn (request i to node i % 2, each over its own connection) until one is
   * refused 403; the number answered before it.
   */
  async function untilRefused(who: TestIdentity, path: () => string, max: number, only?: number): Promise<number> {
    const perNode = nodes.map(() => agentFor(who));
    for (let i = 0; i < max; i++) {
      const n = only ?? i % nodes.length;
      const a = await call(perNode[n] as Agent, `${(nodes[n] as TestServer).url}${path()}`);
      if (a.status === 403) {
        expect(a.body).to.include("identity_quarantined");
        return i;
      }
    }
    return max;
  }

  before(async function () {
    ca = await createTestCA();
    nodes.push(await start(), await start());
  });
  beforeEach(() => (frozen = Date.now()));
  afterEach(() => (frozen = undefined));
  after(async function () {
    for (const a of agents) a.destroy();
    for (const n of nodes) await n.stop();
    await ca.cleanup();
  });

  it(`id_guessing over two nodes: refused after ${NOT_FOUND} not-found answers (+1: the other node's next), not ~${2 * NOT_FOUND}`, async function () {
    const guesser = await ca.issueClient("guesser");
    const answered = await untilRefused(guesser, () => `/v1/records/${randomBytes(16).toString("hex")}`, 4 * NOT_FOUND);
    // The 10th 404 fires on the node that served it (margin 0); the next request may reach the other node before it
    // has heard of the quarantine, which then counts 11 and fires too.
    expect(answered, "404s answered before the first refusal").to.be.within(NOT_FOUND, NOT_FOUND + 1);
    const q = await quarantineOf(ca, "guesser");
    expect(q?.rule).to.equal("id_guessing");
    expect(Number(/^(\d+) requests/.exec(q?.reason ?? "")?.[1])).to.be.within(NOT_FOUND, NOT_FOUND + 1);
  });

  it(`list_walk over two nodes: refused after ${PAGES} continued pages (+1), not ~${2 * PAGES}`, async function () {
    const walker = await ca.issueClient("walker");
    const repo = new RecordRepository(ca.db);
    for (let i = 0; i < 3; i++)
      await repo.insert({
        id: randomBytes(16).toString("hex"),
        owner: "walker",
        envelope: randomBytes(64),
        now: new Date(),
      });
    const first = await call(agentFor(walker), `${(nodes[0] as TestServer).url}/v1/records?limit=1`);
    const cursor = (JSON.parse(first.body) as { next: string }).next;
    expect(cursor).to.be.a("string");
    const answered = await untilRefused(walker, () => `/v1/records?limit=1&cursor=${cursor}`, 4 * PAGES);
    expect(answered, "continued pages answered before the first refusal").to.be.within(PAGES, PAGES + 1);
    expect((await quarantineOf(ca, "walker"))?.rule).to.equal("list_walk");
  });

  it(`volume over two nodes: refused within ${VOLUME + 1}..${VOLUME + 4} requests (margin 2, +1), not ~${2 * VOLUME}`, async function () {
    const chatty = await ca.issueClient("chatty");
    const answered = await untilRefused(chatty, () => "/v1/me", 4 * VOLUME);
    // Fires on the request that makes the count exceed 40 (41st), at most N x (K - 1) = 2 later over two nodes.
    expect(answered, "requests answered before the first refusal").to.be.within(VOLUME + 1, VOLUME + 4);
    expect((await quarantineOf(ca, "chatty"))?.rule).to.equal("volume");
  });

  it("a restart keeps the count: 6 not-found answers, the node restarted, refused after the 10th in all", async function () {
    const patient = await ca.issueClient("patient");
    const agent = agentFor(patient);
    for (let i = 0; i < 6; i++)
      expect((await call(agent, `${nodes[0]?.url}/v1/records/${randomBytes(16).toString("hex")}`)).status).to.equal(
        404,
      );
    await (nodes[0] as TestServer).stop();
    nodes[0] = await start();
    const more = await untilRefused(patient, () => `/v1/records/${randomBytes(16).toString("hex")}`, 4 * NOT_FOUND, 0);
    expect(6 + more, "404s answered before the refusal, across the restart").to.equal(NOT_FOUND);
    expect((await quarantineOf(ca, "patient"))?.rule).to.equal("id_guessing");
  });

  it("a restart keeps the volume count, including the events still batched at the stop (flushed on close)", async function () {
    const steady = await ca.issueClient("steady");
    const agent = agentFor(steady);
    // 25 is odd for K = 2: the last one is still in the node's batch when it stops.
    for (let i = 0; i < 25; i++) expect((await call(agent, `${nodes[1]?.url}/v1/me`)).status).to.equal(200);
    await (nodes[1] as TestServer).stop();
    nodes[1] = await start();
    const more = await untilRefused(steady, () => "/v1/me", 4 * VOLUME, 1);
    expect(25 + more, "requests answered before the refusal, across the restart").to.equal(VOLUME + 1);
  });
});
