/**
 * Abuse controls end to end on a real server: a normal workload raises nothing; a bulk export and an id-guessing run
 * are quarantined and the audit trail shows it; a quarantined identity is refused until `certvault quarantine
 * release`; per-identity rate limits answer 429 with Retry-After; an audit table that refuses inserts turns every
 * request into a 503 and nothing is written; /metrics is for administrators only.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { RecordRepository } from "../../src/store/records.js";
import { runCli } from "../helpers/cli.js";
import { eventually } from "../helpers/eventually.js";
import { countRows, sqlite3 } from "../helpers/db.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function call(agent: Agent, url: string, method = "GET", body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A trigger that aborts every insert into the audit table: with the sqlite3 tool on SQLite, in SQL on PostgreSQL. */
async function blockAuditInserts(ca: TestCA): Promise<() => Promise<void>> {
  if (ca.dbTarget.startsWith("postgres")) {
    await ca.db.raw(
      "CREATE FUNCTION certvault_no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit disabled'; END $$ LANGUAGE plpgsql",
    );
    await ca.db.raw(
      "CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION certvault_no_audit()",
    );
    return async () => {
      await ca.db.raw("DROP TRIGGER no_audit ON audit_entries");
      await ca.db.raw("DROP FUNCTION certvault_no_audit()");
    };
  }
  const dbFile = join(ca.home, "certvault.db");
  await sqlite3(
    dbFile,
    "CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'audit disabled'); END;",
  );
  return async () => {
    await sqlite3(dbFile, "DROP TRIGGER no_audit;");
  };
}

const count = countRows;

const code = (a: Answer): string | undefined =>
  (JSON.parse(a.body.toString()) as { error?: { code: string } }).error?.code;

describe("server: audit and abuse controls", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  const agents: Agent[] = [];

  function agentFor(id: TestIdentity): Agent {
    const a = new Agent({ keepAlive: true, maxSockets: 4, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
    agents.push(a);
    return a;
  }

  before(async function () {
    ca = await createTestCA();
    // The real clock: a fake one ahead of it would date the CRL in the future, and TLS would refuse everyone.
    server = await startTestServer({ ca, config: { adminIdentities: ["ops"] } });
  });
  after(async function () {
    for (const a of agents) a.destroy();
    await server.stop();
    await ca.cleanup();
  });

  async function auditRows(actor: string, action: string): Promise<{ status: number; detail: string | null }[]> {
    return (await ca.db("audit_entries").where({ actor, action }).select("status", "detail")) as {
      status: number;
      detail: string | null;
    }[];
  }

  it("a normal workload (three identities, mixed reads and writes, 120 requests) raises nothing", async function () {
    for (const name of ["nurse", "doctor", "clerk"]) {
      const agent = agentFor(await ca.issueClient(name));
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const r =
          i % 4 === 0
            ? await call(agent, `${server.url}/v1/records`, "POST", `note ${i}`)
            : i % 4 === 1
              ? await call(agent, `${server.url}/v1/records?limit=20`)
              : await call(agent, `${server.url}/v1/records/${ids[i % ids.length] ?? "0".repeat(32)}`);
        if (i % 4 === 0) ids.push((JSON.parse(r.body.toString()) as { id: string }).id);
        expect(r.status, `${name} request ${i}`).to.be.oneOf([200, 201]);
      }
    }
    expect(await count(ca.db("quarantine"))).to.equal(0);
    expect(await count(ca.db("audit_entries").where({ action: "quarantine.add" }))).to.equal(0);
    // Not even a medium alert (those only log): the metrics count every finding.
    const metrics = await call(agentFor(await ca.issueClient("ops")), `${server.url}/metrics`);
    expect(metrics.status).to.equal(200);
    expect(metrics.body.toString()).to.match(/^# TYPE certvault_anomaly_alerts_total counter$/m);
    expect(metrics.body.toString()).to.not.match(/^certvault_anomaly_alerts_total\{/m);
  });

  it("a bulk export of a 2,000-record store is quarantined before 20% is read; the audit trail shows it; release lets it back", async function () {
    const mallory = await ca.issueClient("mallory");
    const repo = new RecordRepository(ca.db);
    for (let i = 0; i < 2000; i++)
      await repo.insert({
        id: randomBytes(16).toString("hex"),
        owner: "mallory",
        envelope: randomBytes(64),
        now: new Date(Date.now() - 86_400_000),
      });
    const agent = agentFor(mallory);
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(agent, `${server.url}/v1/records?limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
      const body = JSON.parse(page.body.toString()) as { records: { id: string }[]; next: string | null };
      ids.push(...body.records.map((r) => r.id));
      cursor = body.next;
    } while (cursor);
    expect(ids).to.have.length(2000);
    let read = 0;
    let refused: Answer | undefined;
    for (const id of ids) {
      const r = await call(agent, `${server.url}/v1/records/${id}`);
      if (r.status !== 200) {
        refused = r;
        break;
      }
      read++;
    }
    expect(refused?.status, `read ${read} records without being stopped`).to.equal(403);
    expect(code(refused as Answer)).to.equal("identity_quarantined");
    expect(read).to.be.below(400);
    await eventually(() => count(ca.db("quarantine").where({ identity: "mallory" })), {
      what: "mallory's stored quarantine",
      until: (n) => n > 0,
      timeoutMs: 3000,
    });
    const q = await runCli(["quarantine", "list", ...ca.cliArgs, "--json"]);
    expect(q.code, q.stderr).to.equal(0);
    const listed = (JSON.parse(q.stdout) as { identity: string; rule: string; reason: string }[]).find(
      (x) => x.identity === "mallory",
    );
    expect(listed?.rule).to.equal("bulk_read");
    expect(listed?.reason).to.match(/distinct records read/);
    expect((await auditRows("mallory", "records.get")).filter((r) => r.status === 200)).to.have.length(read);
    expect(await auditRows("certvault", "quarantine.add")).to.have.length(1);
    // The read that crossed the threshold was refused in its route, before the record was sent (server/middleware/admission.ts):
    // it is audited as that read, with the refusal's code.
    const refusedRow = (await ca
      .db("audit_entries")
      .where({ actor: "mallory", action: "records.get", record_id: ids[read] ?? "" })
      .first("status", "detail")) as { status: number; detail: string };
    expect(refusedRow.status).to.equal(403);
    expect(JSON.parse(refusedRow.detail)).to.deep.equal({ code: "identity_quarantined" });

    const rel = await runCli(["quarantine", "release", "mallory", ...ca.cliArgs]);
    expect(rel.code, rel.stderr).to.equal(0);
    await server.syncRegistry(); // the release reaches the server with its next registry poll: now
    const back = await call(agent, `${server.url}/v1/me`);
    expect(back.status).to.equal(200);
    expect(
      (await ca.db("audit_entries").where({ action: "quarantine.release" }).select("detail")).map(
        (r: { detail: string }) => JSON.parse(r.detail) as Record<string, string>,
      ),
    ).to.deep.include({ identity: "mallory", phase: "done" });
  });

  it("one spelling per endpoint: other spellings are not served, and what is served is audited as what it is", async function () {
    const carol = await ca.issueClient("carol");
    const agent = agentFor(carol);
    const id = (
      JSON.parse((await call(agent, `${server.url}/v1/records`, "POST", "carol's note")).body.toString()) as {
        id: string;
      }
    ).id;
    for (const path of [`/V1/RECORDS/${id}`, `/v1/records/${id}/`, `/v1/Records/${id}`, "/v1/records/", "/v1/me/"]) {
      const r = await call(agent, `${server.url}${path}`);
      expect(r.status, path).to.equal(404);
    }
    expect((await call(agent, `${server.url}/V1/RECORDS/${id}`, "DELETE")).status).to.equal(404);
    expect((await call(agent, `${server.url}/v1/records/${id}`)).status, "the record survived").to.equal(200);
    expect((await call(agent, `${server.url}/v1/records/${id}`, "HEAD")).status).to.equal(200);
    const gets = await ca
      .db("audit_entries")
      .where({ actor: "carol", action: "records.get", record_id: id })
      .select("status");
    expect(gets.map((g: { status: number }) => g.status)).to.deep.equal([200, 200]); // the GET and the HEAD
  });

  it("an id-guessing run is caught", async function () {
    const guesser = agentFor(await ca.issueClient("guesser"));
    let last: Answer | undefined;
    let tries = 0;
    for (; tries < 100; tries++) {
      last = await call(guesser, `${server.url}/v1/records/${randomBytes(16).toString("hex")}`);
      if (last.status !== 404) break;
    }
    expect(last?.status).to.equal(403);
    expect(code(last as Answer)).to.equal("identity_quarantined");
    expect(tries).to.be.below(100);
    // The 403 comes from this node's memory at once; the stored quarantine (for the other nodes) follows.
    const rows = await eventually(
      async () => (await ca.db("quarantine").where({ identity: "guesser" }).select("rule")) as { rule: string }[],
      { what: "guesser's stored quarantine", until: (r) => r.length > 0, timeoutMs: 3000 },
    );
    expect(rows.map((r) => r.rule)).to.deep.equal(["id_guessing"]);
  });

  it("/metrics answers administrators in Prometheus format and refuses everyone else", async function () {
    const ops = agentFor(await ca.issueClient("ops"));
    const m = await call(ops, `${server.url}/metrics`);
    expect(m.status).to.equal(200);
    expect(m.body.toString()).to.match(/^certvault_requests_total\{action="records.get",status="200"\} \d+$/m);
    expect(m.body.toString()).to.match(/^certvault_quarantines_total \d+$/m);
    const other = await call(agentFor(await ca.issueClient("someone")), `${server.url}/metrics`);
    expect(other.status).to.equal(403);
    expect(code(other)).to.equal("admin_required");
  });

  it("an audit table that refuses inserts turns requests into 503 audit_unavailable, and nothing is written", async function () {
    const writer = agentFor(await ca.issueClient("writer"));
    expect((await call(writer, `${server.url}/v1/me`)).status).to.equal(200);
    const unblock = await blockAuditInserts(ca);
    try {
      const before = await count(ca.db("records"));
      const me = await call(writer, `${server.url}/v1/me`);
      expect(me.status).to.equal(503);
      expect(code(me)).to.equal("audit_unavailable");
      expect(me.body.toString()).to.not.include("writer"); // the identity document was not served
      const post = await call(writer, `${server.url}/v1/records`, "POST", "must not be stored");
      expect(post.status).to.equal(503);
      expect(await count(ca.db("records"))).to.equal(before);
    } finally {
      await unblock();
    }
    expect(
      (await call(writer, `${server.url}/v1/me`)).status,
      "serves again once the audit log can be written",
    ).to.equal(200);
  });
});

describe("server: rate limits", function () {
  let ca: TestCA;
  let server: TestServer;
  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({
      ca,
      config: { rateLimits: { identity: { points: 5, seconds: 60 }, source: { points: 1000, seconds: 60 } } },
    });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("answers 429 rate_limited with Retry-After once an identity is over its budget; other identities are unaffected", async function () {
    const alice = await ca.issueClient("alice");
    const agent = new Agent({ keepAlive: true, ca: ca.rootPem, cert: alice.certPem, key: alice.keyPem });
    const bobId = await ca.issueClient("bob");
    const bob = new Agent({ keepAlive: true, ca: ca.rootPem, cert: bobId.certPem, key: bobId.keyPem });
    try {
      for (let i = 0; i < 5; i++) expect((await call(agent, `${server.url}/v1/me`)).status).to.equal(200);
      const over = await call(agent, `${server.url}/v1/me`);
      expect(over.status).to.equal(429);
      expect(code(over)).to.equal("rate_limited");
      expect(Number(over.headers["retry-after"])).to.be.within(1, 60);
      expect((await call(bob, `${server.url}/v1/me`)).status).to.equal(200);
    } finally {
      agent.destroy();
      bob.destroy();
    }
  });
});
