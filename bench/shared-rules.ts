/**
 * What the window rules cost per request: the in-memory Detector (before issue 16's shared counts) against the
 * SharedDetector over a real database (anomaly/shared-detector.ts), for the same stream: 50 identities, 20,000
 * requests one after another (reads, 1% continued list pages, 0.2% 404s: each of those flushes at once, K = 1; one address each), 5 ms apart on
 * the injected clock. SQLite in a temp dir; PostgreSQL too when CERTVAULT_TEST_DB names a server.
 * Run: node --import tsx bench/shared-rules.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Detector } from "../src/anomaly/detector.js";
import { SharedDetector } from "../src/anomaly/shared-detector.js";
import { DEFAULT_THRESHOLDS } from "../src/anomaly/rules.js";
import type { AccessEvent } from "../src/anomaly/rules.js";
import { openDatabase } from "../src/store/db.js";
import type { Db } from "../src/store/db.js";
import { RuleCounters } from "../src/store/rule-counters.js";
import { createScratchDatabase, testDatabaseServer } from "../src/testing/scratch-db.js";

const N = 20_000;
const T0 = Date.UTC(2026, 0, 5, 9);

function event(i: number): [string, AccessEvent] {
  const identity = `user${i % 50}`;
  const base = { time: T0 + i * 5, source: `10.0.0.${i % 50}` };
  const kind = (i * 7919) % 1000; // spread over the identities
  if (kind < 2) return [identity, { ...base, action: "get", status: 404, recordId: "f".repeat(32) }];
  if (kind < 12) return [identity, { ...base, action: "list", status: 200, list: { cursor: true, end: false } }];
  const recordId = (i % 997).toString(16).padStart(32, "0");
  return [identity, { ...base, action: "get", status: 200, recordId, recordAgeMs: 86_400_000 }];
}

async function shared(db: Db): Promise<{ us: number; findings: number; flushes: number; flushMs: number }> {
  const store = new RuleCounters(db, DEFAULT_THRESHOLDS);
  let flushes = 0;
  let flushMs = 0;
  const add = store.add.bind(store);
  store.add = async (batch, now) => {
    const t0 = performance.now();
    try {
      return await add(batch, now);
    } finally {
      flushes++;
      flushMs += performance.now() - t0;
    }
  };
  const d = new SharedDetector(store, DEFAULT_THRESHOLDS, {
    now: () => T0,
    onFindings: () => undefined,
    onError: (err) => console.error(err),
  });
  let findings = 0;
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    const [id, e] = event(i);
    findings += (await d.observe(id, "01", e)).length;
  }
  const us = ((performance.now() - t) * 1000) / N;
  await d.close();
  return { us, findings, flushes, flushMs: flushMs / flushes };
}

const memory = new Detector(DEFAULT_THRESHOLDS);
let memFindings = 0;
const t = performance.now();
for (let i = 0; i < N; i++) {
  const [id, e] = event(i);
  memFindings += memory.observe(id, e).length;
}
console.log(
  `in-memory Detector: ${(((performance.now() - t) * 1000) / N).toFixed(1)} us/request (${memFindings} findings)`,
);

const dir = mkdtempSync(join(tmpdir(), "certvault-bench-rules-"));
const sqlite = await openDatabase(join(dir, "certvault.db"));
const s = await shared(sqlite);
console.log(
  `SharedDetector, SQLite: ${s.us.toFixed(1)} us/request (${s.findings} findings; ${s.flushes} flushes, ${s.flushMs.toFixed(2)} ms each)`,
);
await sqlite.destroy();
rmSync(dir, { recursive: true, force: true });

const pgServer = testDatabaseServer();
if (pgServer) {
  const scratch = await createScratchDatabase(pgServer);
  const pg = await openDatabase(scratch.url);
  const p = await shared(pg);
  console.log(
    `SharedDetector, PostgreSQL: ${p.us.toFixed(1)} us/request (${p.findings} findings; ${p.flushes} flushes, ${p.flushMs.toFixed(2)} ms each)`,
  );
  await pg.destroy();
  await scratch.drop();
}
