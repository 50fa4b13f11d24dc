/**
 * PostgreSQL at scale (needs CERTVAULT_BENCH_PG=postgres://...): list and get latencies for one identity with
 * 10,000 records in the database, then with 1,000,000 (1 KiB each, 1,000 identities), and request throughput through
 * one node against two nodes, all in one run. Run it alone: `npm run bench -- cluster`.
 */
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:https";
import autocannon from "autocannon";
import { createTestCA } from "../src/testing/index.js";
import type { TestCA, TestIdentity } from "../src/testing/index.js";
import { createScratchDatabase } from "../src/testing/scratch-db.js";
import { median } from "./stats.js";
import { startServerProcess, stopServerProcess } from "../test/helpers/server-process.js";

const TOTAL = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const IDENTITIES = 1000;
const SAMPLES = 400;

/** Fills the records table up to `total` rows: identity "user<i>" owns rows round-robin; "bench" owns 1,000. */
async function fill(ca: TestCA, from: number, total: number): Promise<void> {
  const body = randomBytes(1024);
  const now = Date.now();
  for (let start = from; start < total; start += 2000) {
    const rows = [];
    for (let i = start; i < Math.min(total, start + 2000); i++) {
      rows.push({
        id: randomBytes(16).toString("hex"),
        owner: i % IDENTITIES === 0 ? "bench" : `user${i % IDENTITIES}`,
        envelope: body,
        size: 1024,
        created_at: now - (total - i),
        updated_at: now,
        version: 1,
      });
    }
    await ca.db("records").insert(rows);
  }
  await ca.db.raw("ANALYZE records");
}

function timed(agent: Agent, url: string): Promise<number> {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(Number(process.hrtime.bigint() - t) / 1e6));
    });
    req.on("error", reject);
    req.end();
  });
}

async function latencies(url: string, id: TestIdentity, ca: TestCA): Promise<{ list: number[]; get: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
  try {
    const ids = (await ca
      .db("records")
      .where({ owner: "bench" })
      .orderBy("created_at", "desc")
      .limit(100)
      .select("id")) as { id: string }[];
    const list: number[] = [];
    const get: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      list.push(await timed(agent, `${url}/v1/records?limit=100`));
      get.push(await timed(agent, `${url}/v1/records/${ids[i % ids.length]?.id ?? ""}`));
    }
    return { list, get };
  } finally {
    agent.destroy();
  }
}

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

async function throughput(urls: string[], ids: string[], id: TestIdentity, ca: TestCA): Promise<number> {
  const runs = await Promise.all(
    urls.map((url, i) =>
      autocannon({
        url: `${url}/v1/records/${ids[i] ?? ""}`,
        connections: 25,
        duration: 5,
        tlsOptions: { ca: ca.rootPem, cert: id.certPem, key: id.keyPem },
      } as autocannon.Options),
    ),
  );
  return runs.reduce((s, r) => s + r.requests.average, 0);
}

export async function benchCluster(): Promise<void> {
  const pg = process.env.CERTVAULT_BENCH_PG;
  if (!pg) {
    console.log("\ncluster bench: skipped (set CERTVAULT_BENCH_PG=postgres://... to run it)");
    return;
  }
  const scratch = await createScratchDatabase(pg);
  const ca = await createTestCA({ db: scratch.url });
  try {
    const id = await ca.issueClient("bench");
    await fill(ca, 0, 10_000);
    let a = await startServerProcess(ca);
    const small = await latencies(a.url, id, ca);
    await stopServerProcess(a);
    const t0 = Date.now();
    await fill(ca, 10_000, TOTAL);
    const fillSeconds = (Date.now() - t0) / 1000;
    a = await startServerProcess(ca);
    const b = await startServerProcess(ca);
    const large = await latencies(a.url, id, ca);
    const ids = ((await ca.db("records").where({ owner: "bench" }).limit(2).select("id")) as { id: string }[]).map(
      (r) => r.id,
    );
    const one = await throughput([a.url], ids, id, ca);
    const two = await throughput([a.url, b.url], ids, id, ca);
    await stopServerProcess(a);
    await stopServerProcess(b);
    console.log(
      `\ncluster bench (PostgreSQL): 10,000 vs ${TOTAL.toLocaleString("en-US")} records of 1 KiB, ${IDENTITIES} identities (filled in ${fillSeconds.toFixed(0)} s)`,
    );
    for (const [name, s, l] of [
      ["list (limit 100)", small.list, large.list],
      ["get 1 KiB record", small.get, large.get],
    ] as const) {
      console.log(
        `${name.padEnd(20)} p50 ${pct(s, 50).toFixed(2)} -> ${pct(l, 50).toFixed(2)} ms (${(pct(l, 50) / pct(s, 50)).toFixed(2)}x)   p99 ${pct(s, 99).toFixed(2)} -> ${pct(l, 99).toFixed(2)} ms (${(pct(l, 99) / pct(s, 99)).toFixed(2)}x)   median ${median(l).toFixed(2)} ms`,
      );
    }
    console.log(
      `GET record throughput: 1 node ${one.toFixed(0)} req/s, 2 nodes ${two.toFixed(0)} req/s (${(two / one).toFixed(2)}x; both nodes share this machine's 2 cores with the load generator)`,
    );
  } finally {
    await ca.cleanup();
    await scratch.drop();
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) await benchCluster();
