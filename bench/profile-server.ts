/**
 * certvault's server as the CLI starts it, with every Koa middleware and every route step wrapped in a timer that
 * keeps its self time (its own time minus the time inside next()), for bench/pipeline.ts. Wall-clock time, measured
 * at one request at a time, so that it is the step's own work and waits (a database write), not queueing; the
 * median per request, so that a preemption by another process on a shared machine does not count. The router's own
 * step includes the route steps (they run inside it, not through its next()): the report subtracts them. It wraps
 * Koa's use and the route table's add (server/route-table.ts), so the same file measures checkouts before and after
 * a change to the steps; a checkout from before session 11 (@koa/router) has its own copy, which wraps the router's
 * register. SIGUSR1 resets the counts; SIGUSR2 prints them as one JSON line.
 */
import Koa from "koa";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { resolveServer } from "../src/config/index.js";
import { startServer } from "../src/server/index.js";
import { RouteTable } from "../src/server/route-table.js";

type Mw = (ctx: unknown, next: () => Promise<unknown>) => unknown;
const MAX_SAMPLES = 100_000;
const samples = new Map<string, number[]>();

function timed(name: string, fn: Mw): Mw {
  return async function (ctx, next) {
    let inner = 0n;
    const t0 = process.hrtime.bigint();
    try {
      return await fn(ctx, async () => {
        const t1 = process.hrtime.bigint();
        try {
          return await next();
        } finally {
          inner += process.hrtime.bigint() - t1;
        }
      });
    } finally {
      let list = samples.get(name);
      if (!list) samples.set(name, (list = []));
      if (list.length < MAX_SAMPLES) list.push(Number(process.hrtime.bigint() - t0 - inner));
    }
  };
}

let appStep = 0;
const use = Koa.prototype.use;
Koa.prototype.use = function (this: Koa, fn: Mw) {
  return use.call(this, timed(`app ${appStep++} ${fn.name || "anonymous"}`, fn) as Parameters<typeof use>[0]);
} as typeof use;
const add = RouteTable.prototype.add;
RouteTable.prototype.add = function (this: RouteTable, method: string, path: string, steps: Mw[]) {
  const wrapped = steps.map((fn, i) => timed(`route ${method} ${path} ${i} ${fn.name || "anonymous"}`, fn));
  return add.call(this, method as Parameters<typeof add>[0], path, wrapped as Parameters<typeof add>[2]);
} as typeof add;

const [, , home, passphraseFile] = process.argv;
const config = resolveServer(
  { home, port: "0", "rate-limit-identity": "100000000/60", "rate-limit-source": "100000000/60" },
  { CERTVAULT_LOG_LEVEL: "warn" },
);
const running = await startServer({ config, passphrase: readFileSync(passphraseFile as string, "utf8").trim() });

/** What recovery/recovery-certificate.ts pays per request on the server version that stats the file each time. */
function statCostNs(): number {
  const file = join(home as string, "ca", "recovery.crt");
  const n = 20_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) statSync(file, { throwIfNoEntry: false });
  return Number(process.hrtime.bigint() - t0) / n;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

process.on("SIGUSR1", () => samples.clear());
process.on("SIGUSR2", () => {
  const steps = Object.fromEntries([...samples].map(([k, v]) => [k, { us: medianOf(v) / 1000, n: v.length }]));
  process.stdout.write(`profile ${JSON.stringify({ steps, statUs: statCostNs() / 1000 })}\n`);
});
process.stdout.write(`listening on ${running.url}\n`);
process.on("SIGTERM", () => void running.close().then(() => process.exit(0)));
