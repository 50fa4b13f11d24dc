/**
 * `npm run soak -- --minutes N [--rate R] [--db postgres://...]`: a steady mixed workload against `certvault server`
 * in a separate process (test/helpers/server-process.ts), through the SDK as users run it: six identities putting,
 * reading, listing, updating, deleting and sharing records; a reconnect (new client, new TLS handshake) now and then;
 * the occasional refusal (a record that does not exist: 404); every 20 s a new certificate that is used, revoked by the
 * CA and then refused. Every 5 s it samples the server (soak-sampler.ts) and at the end prints whether RSS, heap, open
 * fds, event-loop delay and p99 latency stayed flat after warm-up. Exit 1 when one did not, or on an unexpected error.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "node:https";
import { CertvaultClient } from "../src/client-sdk/index.js";
import { createTestCA } from "../src/testing/index.js";
import type { TestCA, TestIdentity } from "../src/testing/index.js";
import { startServerProcess, stopServerProcess } from "../test/helpers/server-process.js";
import { fromMetrics, percentile, procStats, verdicts } from "./soak-sampler.js";
import type { Sample } from "./soak-sampler.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const minutes = Number(arg("minutes", "2"));
const rate = Number(arg("rate", "25"));
const dbTarget = process.argv.includes("--db") ? arg("db", "") : undefined;
const SAMPLE_MS = 5000;
const MAX_LIVE = 150;

const ca: TestCA = await createTestCA(dbTarget ? { db: dbTarget } : {});
const admin = await ca.issueClient("soak-admin");
// A steady workload reads many distinct records: thresholds raised so that the anomaly rules do not quarantine it.
const anomaly = join(ca.home, "anomaly.json");
// dayRecordsMin/Max too (issue 16's daily_reads rule): a 1-hour run reads ~20,000 distinct records per identity-set.
writeFileSync(
  anomaly,
  JSON.stringify({
    distinctRecords: 1_000_000,
    notFound: 1_000_000,
    volumeMin: 1_000_000,
    listPages: 1_000_000,
    dayRecordsMin: 1_000_000,
    dayRecordsMax: 1_000_000,
  }),
);
const srv = await startServerProcess(ca, {
  CERTVAULT_ADMIN_IDENTITIES: "soak-admin",
  CERTVAULT_ANOMALY_CONFIG: anomaly,
});
const pid = srv.child.pid as number;
const names = ["ana", "ben", "cyd", "dee", "eli", "fay"];
const users = await Promise.all(names.map((n) => ca.issueClient(n)));
const clientFor = (u: TestIdentity) =>
  new CertvaultClient({ server: srv.url, caPem: ca.rootPem, certPem: u.certPem, key: u.key, retries: 0 });
const clients = users.map(clientFor);
const live: string[][] = users.map(() => []);
const latencies: number[] = [];
const counts = new Map<string, number>();
const errors: string[] = [];
const count = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
const unavailableAt: string[] = [];

/** Operations of one user run concurrently: a record deleted (or updated) meanwhile is a race, not a failure. */
async function raced(p: Promise<unknown>, what: string): Promise<void> {
  try {
    await p;
    count(what);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== "not_found" && code !== "precondition_failed") throw e;
    count(`${what} raced (${code})`);
  }
}

const busy = new Map<CertvaultClient, number>();
const retired = new Set<CertvaultClient>();

async function op(): Promise<void> {
  const u = Math.floor(Math.random() * users.length);
  const c = clients[u] as CertvaultClient;
  busy.set(c, (busy.get(c) ?? 0) + 1);
  try {
    await opOn(u, c);
  } finally {
    const left = (busy.get(c) ?? 1) - 1;
    busy.set(c, left);
    if (left === 0 && retired.has(c)) {
      c.close();
      retired.delete(c);
      busy.delete(c);
    }
  }
}

async function opOn(u: number, c: CertvaultClient): Promise<void> {
  const ids = live[u] as string[];
  const pick = () => ids[Math.floor(Math.random() * ids.length)];
  const r = Math.random();
  if (r < 0.25 || ids.length === 0) {
    if (ids.length >= MAX_LIVE) {
      await c.delete(ids.shift() as string);
      return void count("delete");
    }
    ids.push(await c.put(randomBytes(256 + Math.floor(Math.random() * 4096))));
    return void count("put");
  }
  if (r < 0.5) return raced(c.get(pick() as string), "get");
  if (r < 0.62) return void (await c.list({ limit: 20 }), count("list"));
  if (r < 0.74) return raced(c.update(pick() as string, randomBytes(512)), "update");
  if (r < 0.86) {
    const id = ids.splice(Math.floor(Math.random() * ids.length), 1)[0] as string;
    return void (await c.delete(id), count("delete"));
  }
  if (r < 0.93) return raced(c.share(pick() as string, names[(u + 1) % names.length] as string), "share");
  if (r < 0.97) {
    // Reconnect: a new client (new connections, new handshakes); the old one is closed once its requests are done.
    clients[u] = clientFor(users[u] as TestIdentity);
    retired.add(c);
    if (!busy.get(c)) c.close();
    return void count("reconnect");
  }
  // The occasional refusal: a record that does not exist.
  const refused = await c.get(randomBytes(16).toString("hex")).then(
    () => false,
    (e: { code?: string }) => e.code === "not_found",
  );
  if (!refused) throw new Error("a record that does not exist was not refused");
  count("refused (404)");
}

/** A certificate that works, is revoked, and is then refused (TLS or 403): the revocation path under load. */
async function revocation(n: number): Promise<void> {
  const id = await ca.issueClient(`temp${n}`);
  const c = clientFor(id);
  try {
    await c.me();
    await ca.revoke(id, "keyCompromise");
    // The contract's 1 s is asserted by test/server/revocation.test.ts; here a late refusal under load is reported
    // (and counted) as a finding, and only one that never comes (30 s) fails the soak. Two 2-minute runs saw the
    // revocation made at the run's end accepted for over 5 s: it overlapped the server's stop, which stopped watching
    // revocations first and kept a busy keep-alive connection open (fixed: server/lifecycle/graceful-close.ts, and the run
    // now awaits its last revocation before stopping the server).
    const revokedAt = Date.now();
    for (;;) {
      const ok = await c.me().then(
        () => true,
        () => false,
      );
      if (!ok) break;
      if (Date.now() - revokedAt > 30_000) throw new Error(`revoked certificate temp${n} still accepted after 30 s`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const took = Date.now() - revokedAt;
    if (took > 1000) {
      count("revocation refused only after 1 s (finding)");
      console.log(`  finding: revoked certificate temp${n} was refused only after ${took} ms`);
    }
    count("revoked and refused");
  } finally {
    c.close();
  }
}

const adminAgent = new Agent({ keepAlive: true, ca: ca.rootPem, cert: admin.certPem, key: admin.keyPem });
function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    request(`${srv.url}/metrics`, { agent: adminAgent }, (res) => {
      let b = "";
      res.on("data", (d: Buffer) => (b += d.toString()));
      res.on("end", () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`/metrics: ${res.statusCode}`))));
    })
      .on("error", reject)
      .end();
  });
}

const started = Date.now();
const end = started + minutes * 60_000;
const samples: Sample[] = [];
let windowLat: number[] = [];
let inFlight = 0;
console.log(`soak: ${minutes} min at ${rate} ops/s, server pid ${pid}, ${dbTarget ? "PostgreSQL" : "SQLite"}`);
console.log("   min   RSS MB  heap MB  fds  loop p99 ms  req p99 ms  ops");
const pacer = setInterval(() => {
  if (inFlight > rate * 5) return void count("skipped (backlog)");
  inFlight++;
  const t0 = performance.now();
  op()
    .then(
      () => {
        const ms = performance.now() - t0;
        latencies.push(ms);
        windowLat.push(ms);
      },
      (e: Error & { code?: string }) => {
        const at = `${((Date.now() - started) / 60_000).toFixed(2)} min`;
        // A retryable 503 is reported and bounded (below), not a failure: SQLite's lock can refuse a server write while
        // another process writes (the soak's revocations), and the client is told to retry.
        if (e.code === "database_unavailable") return void (count("503 database_unavailable"), unavailableAt.push(at));
        errors.push(`${at}: ${e.code ?? e.name}: ${e.message}`);
      },
    )
    .finally(() => inFlight--);
}, 1000 / rate);
let n = 0;
const revocations = new Set<Promise<void>>();
const revoker = setInterval(() => {
  const r = revocation(++n).catch((e: Error) => void errors.push(`revocation: ${e.message}`));
  revocations.add(r);
  void r.finally(() => revocations.delete(r));
}, 20_000);
while (Date.now() < end && errors.length < 20) {
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
  const m = fromMetrics(await metrics());
  const s: Sample = {
    t: (Date.now() - started) / 60_000,
    ...procStats(pid),
    ...m,
    p99Ms: percentile(windowLat, 99),
    ops: windowLat.length,
  };
  windowLat = [];
  samples.push(s);
  console.log(
    `${s.t.toFixed(2).padStart(6)} ${s.rssMb.toFixed(1).padStart(8)} ${s.heapMb.toFixed(1).padStart(8)} ${String(s.fds).padStart(4)} ${s.loopP99Ms.toFixed(1).padStart(12)} ${s.p99Ms.toFixed(1).padStart(11)} ${String(s.ops).padStart(4)}`,
  );
}
clearInterval(pacer);
clearInterval(revoker);
// A revocation started at the run's end is seen through before the server stops (it used to overlap the stop).
await Promise.all(revocations);
while (inFlight > 0) await new Promise((r) => setTimeout(r, 50));
for (const c of clients) c.close();
adminAgent.destroy();
await stopServerProcess(srv);
await ca.cleanup();

const warmup = Math.min(1, minutes / 2);
console.log(
  `\noperations: ${[...counts].map(([k, v]) => `${k} ${v}`).join(", ")}; p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms over the run`,
);
console.log(`flat after ${warmup.toFixed(2)} min of warm-up?`);
const v = verdicts(samples, warmup);
for (const x of v) console.log(`  ${x.flat ? "flat " : "GROWS"}  ${x.what.padEnd(22)} ${x.value}  (bound ${x.bound})`);
for (const e of errors) console.log(`  error: ${e}`);
const rare = unavailableAt.length <= latencies.length / 1000;
if (unavailableAt.length)
  console.log(
    `  ${rare ? "rare " : "OFTEN"}  503 database_unavailable x${unavailableAt.length} (at ${unavailableAt.join(", ")}; bound <= 1 per 1,000 operations)`,
  );
process.exit(errors.length === 0 && rare && v.every((x) => x.flat) ? 0 : 1);
