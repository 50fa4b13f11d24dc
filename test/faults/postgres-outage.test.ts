/**
 * PostgreSQL stopped under load (pg_ctl stop -m fast: sessions terminated with 57P01, then connections refused) and
 * started again, on a throwaway cluster of this test's own (test/helpers/temp-postgres.ts), against a server process:
 * every request asked during the outage is answered 503 database_unavailable with Retry-After within the bound
 * (store/db.ts ACQUIRE_TIMEOUT_MS), never a 500 or a hang; the server recovers without a restart; LISTEN/NOTIFY is
 * re-established (registry polling is set to 60 s here, so only a notification can carry the revocation within 1 s);
 * every acknowledged record is still there; `certvault audit verify` accepts the chain.
 * Needs PostgreSQL's server binaries (initdb, pg_ctl); skipped with the reason without them, unless
 * CERTVAULT_REQUIRE_FAULTS=1 (set by .ci/run).
 */
import { expect } from "chai";
import type { TLSSocket } from "node:tls";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { ACQUIRE_TIMEOUT_MS } from "../../src/store/db.js";
import { runCli } from "../helpers/cli.js";
import { startServerProcess, stopServerProcess } from "../helpers/server-process.js";
import type { ServerProcess } from "../helpers/server-process.js";
import { createTempPostgres, postgresBinDir } from "../helpers/temp-postgres.js";
import type { TempPostgres } from "../helpers/temp-postgres.js";
import { agentFor, call, startLoad, tally } from "./load.js";
import type { Agent } from "node:https";
import { eventually } from "../helpers/eventually.js";

const REQUIRED = process.env.CERTVAULT_REQUIRE_FAULTS === "1";
/** A request asked while the database is away is answered within the acquire bound plus this much. */
const SLACK_MS = 2000;

describe("faults: PostgreSQL stopped under load and started again", function () {
  this.timeout(240_000);
  let pg: TempPostgres | undefined;
  let ca: TestCA | undefined;
  let srv: ServerProcess | undefined;
  const agents: Agent[] = [];

  before(async function () {
    const bin = postgresBinDir();
    if (!bin) {
      if (REQUIRED) throw new Error("CERTVAULT_REQUIRE_FAULTS=1 but PostgreSQL's initdb/pg_ctl are not installed");
      console.log(
        "      (skipped: PostgreSQL's server binaries initdb and pg_ctl are not installed; apt-get install postgresql)",
      );
      this.skip();
    }
    pg = await createTempPostgres(bin);
    ca = await createTestCA({ db: pg.url });
    srv = await startServerProcess(ca, { CERTVAULT_REVOCATION_POLL_MS: "60000" });
  });
  after(async function () {
    for (const a of agents) a.destroy();
    if (srv) await stopServerProcess(srv);
    if (ca) await ca.cleanup().catch(() => undefined);
    if (pg) await pg.destroy();
  });

  it("answers 503 database_unavailable fast while it is down, recovers by itself, keeps NOTIFY, the audit chain and every acknowledged record", async function () {
    const c = ca as TestCA;
    const s = srv as ServerProcess;
    const db = pg as TempPostgres;
    const ids = await Promise.all(["alice", "bob"].map((n) => c.issueClient(n)));
    agents.push(...ids.map((id) => agentFor(c, id)));
    const load = startLoad(s.url, agents, { workers: 2 });
    try {
      await eventually(() => load.acknowledged.size >= 20, {
        what: "20 records acknowledged before the fault",
        timeoutMs: 30_000,
      });

      await db.stop();
      const stoppedAt = Date.now();
      await eventually(() => load.answers.filter((a) => a.start > stoppedAt).length >= 40, {
        what: "40 answers while PostgreSQL is down",
        timeoutMs: 30_000,
      });
      const during = load.answers.filter((a) => a.start > stoppedAt);
      expect(
        during.every((a) => a.status === 503 && a.code === "database_unavailable"),
        tally(during),
      ).to.equal(true);
      expect(
        during.every((a) => a.retryAfter !== undefined && Number(a.retryAfter) >= 1),
        "Retry-After on every 503",
      ).to.equal(true);
      const slowest = Math.max(...during.map((a) => a.ms));
      expect(slowest, "slowest answer during the outage (ms)").to.be.at.most(ACQUIRE_TIMEOUT_MS + SLACK_MS);

      await db.start();
      const startedAt = Date.now();
      // Recovery without a restart: fresh writes are acknowledged again (same server process).
      await eventually(() => load.answers.some((a) => a.start > startedAt && a.status === 201), {
        what: "a write acknowledged after PostgreSQL is back",
        timeoutMs: 30_000,
      });
      const recoveredAt = Date.now();
      await eventually(() => load.answers.filter((a) => a.start > recoveredAt).length >= 40, {
        what: "40 answers after recovery",
        timeoutMs: 30_000,
      });
      const after = load.answers.filter((a) => a.start > recoveredAt);
      expect(
        after.every((a) => a.status >= 200 && a.status < 300),
        tally(after),
      ).to.equal(true);
      expect(s.child.exitCode, "the server kept running").to.equal(null);
      console.log(
        `      outage: ${during.length} answers, slowest ${slowest} ms; recovered ${recoveredAt - startedAt} ms after start; run: ${tally(load.answers)}`,
      );
    } finally {
      await load.stop();
    }
    expect(
      load.answers.some((a) => a.status >= 500 && a.status !== 503),
      `no 500: ${tally(load.answers)}`,
    ).to.equal(false);
    expect(
      load.answers.some((a) => a.status === -1),
      `always an HTTP answer: ${tally(load.answers)}`,
    ).to.equal(false);

    // LISTEN is back: a revocation by the CLI closes a live connection within 1 s (polling is at 60 s here).
    const eve = await c.issueClient("eve");
    const eveAgent = agentFor(c, eve, 1);
    agents.push(eveAgent);
    const me = await call(eveAgent, `${s.url}/v1/me`);
    expect(me.status).to.equal(200);
    const socket = Object.values(eveAgent.freeSockets).flat()[0] as TLSSocket | undefined;
    expect(socket, "eve's keep-alive connection").to.not.equal(undefined);
    let closedAt = 0;
    socket?.once("close", () => (closedAt = Date.now()));
    const r = await runCli(["ca", "revoke", ...c.cliArgs, "--serial", eve.serial, "--reason", "keyCompromise"]);
    expect(r.code, r.stderr).to.equal(0);
    const revokedAt = Date.now();
    await eventually(() => closedAt > 0, {
      what: "eve's live connection closed after the revocation",
      timeoutMs: 1500,
    });
    expect(closedAt - revokedAt, "revocation to close (ms)").to.be.at.most(1000);

    // Nothing acknowledged is lost: every id answered 201 is stored (read from the database itself).
    const acked = [...load.acknowledged.keys()];
    const stored = (await c.db("records").whereIn("id", acked).select("id")) as { id: string }[];
    expect(stored.length, "acknowledged records stored").to.equal(acked.length);

    const verify = await runCli(["audit", "verify", ...c.cliArgs]);
    expect(verify.code, verify.stderr).to.equal(0);
    expect(verify.stdout).to.match(/^ok \d+ entries/);
  });
});
