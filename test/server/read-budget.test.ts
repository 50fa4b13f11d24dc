/**
 * Budgets reserved at admission (issue 16), on a real server (SQLite, or PostgreSQL with CERTVAULT_TEST_DB):
 * a concurrent burst of distinct reads far over bulk_read's threshold is served at most threshold - 1 records (margin
 * 0: the count is one atomic upsert per read, checked before the record is sent), the rest refused, the identity
 * quarantined; requests over the per-identity concurrency cap get 429 concurrency_limited with Retry-After; a restart
 * keeps the count; a slow drain under bulk_read (9 distinct reads every 11 minutes, on an injected clock) is caught by
 * daily_reads. All of these failed before the change: the burst was served 64+ records, nothing capped concurrency,
 * a restart forgot the count, and the drain read everything.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:https";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { RecordRepository } from "../../src/store/records.js";
import { thresholdsFrom } from "../../src/anomaly/rules.js";
import { eventually } from "../helpers/eventually.js";
import { rowsIn } from "../helpers/db.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function call(agent: Agent, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

const code = (a: Answer): string | undefined =>
  a.status >= 400 ? (JSON.parse(a.body.toString()) as { error?: { code: string } }).error?.code : undefined;

async function seed(ca: TestCA, owner: string, n: number): Promise<string[]> {
  const repo = new RecordRepository(ca.db);
  const ids = Array.from({ length: n }, () => randomBytes(16).toString("hex"));
  for (const id of ids)
    await repo.insert({ id, owner, envelope: randomBytes(64), now: new Date(Date.now() - 86_400_000) });
  return ids;
}

/** Polls the quarantine table until the identity is in it (at most 3 s); its rule, or undefined. */
async function quarantinedFor(ca: TestCA, identity: string): Promise<string | undefined> {
  const row = await eventually(
    async () => (await ca.db("quarantine").where({ identity }).first("rule")) as { rule: string } | undefined,
    { what: `${identity}'s stored quarantine`, timeoutMs: 3000 },
  );
  return row?.rule;
}

describe("server: read budgets reserved at admission", function () {
  this.timeout(120_000);
  const THRESHOLD = 20;
  let ca: TestCA;
  let server: TestServer;
  let offset = 0;
  const agents: Agent[] = [];
  const agentFor = (id: { certPem: string; keyPem: string }, maxSockets: number): Agent => {
    const a = new Agent({ keepAlive: true, maxSockets, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
    agents.push(a);
    return a;
  };
  const start = () =>
    startTestServer({
      ca,
      // The clock starts true (the CRL is dated by it) and only moves forward, for the slow drain.
      now: () => new Date(Date.now() + offset),
      config: {
        anomaly: thresholdsFrom({ distinctRecords: THRESHOLD, dayRecordsMin: 40, dayRecordsMax: 1000 }),
        rateLimits: { identity: { points: 0, seconds: 1 }, source: { points: 0, seconds: 1 } },
      },
    });

  before(async function () {
    ca = await createTestCA();
    server = await start();
  });
  after(async function () {
    for (const a of agents) a.destroy();
    await server.stop();
    await ca.cleanup();
  });

  it("a concurrent burst of 400 distinct reads over 64 warm connections: at most threshold - 1 served, the rest refused, quarantined", async function () {
    const burst = await ca.issueClient("burst");
    const ids = await seed(ca, "burst", 400);
    const agent = agentFor(burst, 64);
    // 64 connections open and handshaken first, so the burst arrives at once (64 requests in flight at the start).
    await Promise.all(Array.from({ length: 64 }, () => call(agent, `${server.url}/v1/me`)));
    const answers = await Promise.all(ids.map((id) => call(agent, `${server.url}/v1/records/${id}`)));
    const served = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.status !== 200);
    console.log(
      `      burst: ${served} served, ${refused.filter((a) => a.status === 403).length} x 403, ${refused.filter((a) => a.status === 429).length} x 429`,
    );
    expect(served, "records served").to.be.at.most(THRESHOLD - 1);
    for (const a of refused)
      expect(`${a.status} ${code(a)}`).to.be.oneOf(["403 identity_quarantined", "429 concurrency_limited"]);
    expect(await quarantinedFor(ca, "burst")).to.equal("bulk_read");
    const audited = await rowsIn(ca.db, "audit_entries", { actor: "burst", action: "records.get", status: 200 });
    expect(audited).to.equal(served);
  });

  it("over the concurrency cap (32 by default): 429 concurrency_limited with Retry-After: 1; the 32 in flight finish", async function () {
    const busy = await ca.issueClient("busy");
    const agent = agentFor(busy, 40);
    // 40 uploads whose bodies are held back half-way: 32 are admitted and wait for their bodies, 8 are refused at once.
    const held = Array.from({ length: 40 }, () => {
      const req = request(`${server.url}/v1/records`, { method: "POST", agent, headers: { "content-length": "10" } });
      const answer = new Promise<Answer>((resolve, reject) => {
        req.on("response", (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        });
        req.on("error", reject);
      });
      req.write("half.");
      return { req, answer, done: false };
    });
    for (const h of held) void h.answer.then(() => (h.done = true));
    const refused: Answer[] = [];
    await new Promise<void>((resolve) => {
      for (const h of held) void h.answer.then((a) => (refused.push(a), refused.length === 8 && resolve()));
    });
    for (const a of refused) {
      expect(`${a.status} ${code(a)}`).to.equal("429 concurrency_limited");
      expect(a.headers["retry-after"]).to.equal("1");
    }
    const waiting = held.filter((h) => !h.done);
    expect(waiting).to.have.length(32);
    for (const h of waiting) h.req.end("rest.");
    expect((await Promise.all(waiting.map((h) => h.answer))).map((a) => a.status)).to.deep.equal(Array(32).fill(201));
    // Nothing is left counted once they are done.
    expect(
      (await Promise.all(Array.from({ length: 32 }, () => call(agent, `${server.url}/v1/me`)))).map((a) => a.status),
    ).to.deep.equal(Array(32).fill(200));
  });

  it("a restart keeps the count: 12 reads, restart, the read that makes 20 is refused", async function () {
    const patient = await ca.issueClient("patient");
    const ids = await seed(ca, "patient", 40);
    let agent = agentFor(patient, 1);
    for (const id of ids.slice(0, 12))
      expect((await call(agent, `${server.url}/v1/records/${id}`)).status).to.equal(200);
    await server.stop();
    server = await start();
    agent = agentFor(patient, 1);
    const statuses: number[] = [];
    for (const id of ids.slice(12)) {
      const a = await call(agent, `${server.url}/v1/records/${id}`);
      statuses.push(a.status);
      if (a.status !== 200) break;
    }
    expect(
      statuses.filter((s) => s === 200),
      "served after the restart",
    ).to.have.length(THRESHOLD - 1 - 12);
    expect(statuses.at(-1)).to.equal(403);
    expect(await quarantinedFor(ca, "patient")).to.equal("bulk_read");
  });

  it("a slow drain (9 distinct reads every 11 minutes, injected clock) is caught by daily_reads at its 40th read", async function () {
    const drip = await ca.issueClient("drip");
    const ids = await seed(ca, "drip", 90);
    const agent = agentFor(drip, 1);
    let read = 0;
    let refusal: Answer | undefined;
    for (let batch = 0; batch < 10 && !refusal; batch++) {
      offset = batch * 11 * 60_000;
      for (const id of ids.slice(batch * 9, batch * 9 + 9)) {
        const a = await call(agent, `${server.url}/v1/records/${id}`);
        if (a.status !== 200) {
          refusal = a;
          break;
        }
        read++;
      }
    }
    expect(read, "distinct records read before the refusal").to.equal(39);
    expect(refusal && `${refusal.status} ${code(refusal)}`).to.equal("403 identity_quarantined");
    expect(await quarantinedFor(ca, "drip")).to.equal("daily_reads");
    const alert = (await ca.db("quarantine").where({ identity: "drip" }).first("reason")) as { reason: string };
    expect(alert.reason).to.match(/^40 distinct records read in 24 h/);
  });
});
