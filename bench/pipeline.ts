/**
 * `npm run bench -- pipeline`: what each step of the request path costs on GET /v1/me (issue 17: "measure per
 * middleware"), from bench/profile-server.ts, plus keep-alive throughput at c=1 and c=50. With
 * BENCH_COMPARE_ROOT=/path/to/another/checkout (with node_modules and this profile-server.ts in its bench/), that
 * checkout's server is measured in the same run, alternating with this one: before/after on a noisy machine.
 * Server on CPU 0, load on CPU 1 (taskset); medians of BENCH_RUNS short runs of BENCH_SECONDS.
 */
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { createTestCA } from "../src/testing/index.js";
import type { TestIdentity } from "../src/testing/index.js";
import { median } from "./stats.js";

const ROOT = join(import.meta.dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const TASKSET = existsSync("/usr/bin/taskset");

interface Profiled {
  child: ChildProcess;
  url: string;
  /** The next "profile {...}" line the server prints. */
  profile(): Promise<Profile>;
}
interface Profile {
  steps: Record<string, { us: number; n: number }>;
  statUs: number;
}

function start(root: string, home: string, passphraseFile: string): Promise<Profiled> {
  const args = ["--import", "tsx", join(root, "bench", "profile-server.ts"), home, passphraseFile];
  const child = spawn(TASKSET ? "taskset" : process.execPath, TASKSET ? ["-c", "0", process.execPath, ...args] : args, {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  let out = "";
  const waiters: ((line: string) => void)[] = [];
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
    let nl: number;
    while ((nl = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      waiters.shift()?.(line);
    }
  });
  const nextLine = (): Promise<string> => new Promise((resolve) => waiters.push(resolve));
  return nextLine().then((line) => {
    const m = /listening on (https:\/\/\S+)/.exec(line);
    if (!m?.[1]) throw new Error(`profile server said: ${line}`);
    return {
      child,
      url: m[1].replace("localhost", "127.0.0.1"),
      async profile() {
        const p = nextLine();
        child.kill("SIGUSR2");
        return JSON.parse((await p).replace(/^profile /, "")) as Profile;
      },
    };
  });
}

function stop(p: Profiled): Promise<void> {
  return new Promise((resolve) => {
    p.child.once("exit", () => resolve());
    if (p.child.pid) process.kill(-p.child.pid, "SIGTERM");
  });
}

async function load(url: string, id: TestIdentity, ca: string, connections: number, seconds: number): Promise<number> {
  const r = await autocannon({
    url: `${url}/v1/me`,
    connections,
    duration: seconds,
    tlsOptions: { ca, cert: id.certPem, key: id.keyPem },
  } as autocannon.Options);
  return r.requests.average;
}

interface Sample {
  rps1: number;
  rps50: number;
  profile: Profile;
}

async function measure(root: string, home: string, pass: string, id: TestIdentity, ca: string): Promise<Sample> {
  const p = await start(root, home, pass);
  try {
    await load(p.url, id, ca, 1, 1); // warm-up
    p.child.kill("SIGUSR1");
    const rps1 = await load(p.url, id, ca, 1, SECONDS);
    const profile = await p.profile();
    const rps50 = await load(p.url, id, ca, 50, SECONDS);
    return { rps1, rps50, profile };
  } finally {
    await stop(p);
  }
}

function report(root: string, samples: Sample[]): void {
  const rps = (k: "rps1" | "rps50"): string => median(samples.map((s) => s[k])).toFixed(0);
  console.log(`\n${root}\n  GET /v1/me keep-alive: c=1 ${rps("rps1")} req/s, c=50 ${rps("rps50")} req/s`);
  const names = Object.keys(samples[0]?.profile.steps ?? {}).filter((n) => (samples[0]?.profile.steps[n]?.n ?? 0) > 0);
  const us = new Map(names.map((n) => [n, median(samples.map((s) => s.profile.steps[n]?.us ?? 0))]));
  // The route steps run inside the router's step: its own cost is what is left.
  const routeSteps = names.filter((n) => n.startsWith("route ")).reduce((sum, n) => sum + (us.get(n) ?? 0), 0);
  let total = 0;
  for (const name of names) {
    const own = /^app \d+ (bound |dispatch)/.test(name) ? Math.max(0, (us.get(name) ?? 0) - routeSteps) : us.get(name);
    total += own ?? 0;
    console.log(`  ${(own ?? 0).toFixed(1).padStart(8)} us  ${name}`);
  }
  const stat = median(samples.map((s) => s.profile.statUs)).toFixed(2);
  console.log(
    `  ${total.toFixed(1).padStart(8)} us  all steps (medians per request); a stat of recovery.crt: ${stat} us`,
  );
}

export async function benchPipeline(): Promise<void> {
  if (TASKSET) execFileSync("taskset", ["-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
  const roots = [ROOT, ...(process.env.BENCH_COMPARE_ROOT ? [process.env.BENCH_COMPARE_ROOT] : [])];
  const ca = await createTestCA();
  try {
    const id = await ca.issueClient("bench");
    const samples = new Map<string, Sample[]>(roots.map((r) => [r, []]));
    for (let run = 0; run < RUNS; run++)
      for (const root of run % 2 ? [...roots].reverse() : roots)
        samples.get(root)?.push(await measure(root, ca.home, ca.passphraseFile, id, ca.rootPem));
    console.log(
      `\npipeline bench: ${RUNS} runs x ${SECONDS} s per load, server on CPU 0, load on CPU 1 (taskset: ${TASKSET})`,
    );
    for (const [root, s] of samples) report(root, s);
  } finally {
    await ca.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPipeline();
