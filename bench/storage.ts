/**
 * `npm run bench -- storage`: the storage rows of issue 17 only, certvault against itself in the same run: keep-alive
 * GET of a 1 KiB record and POST of a client-sealed 1 KiB record, each as a ratio to GET /v1/me on the same server
 * (c=50, server on CPU 0, load on CPU 1). With BENCH_BEFORE_ROOT=DIR (another checkout, built with `npm run build`)
 * the rounds alternate between that build's server and this one's, on the same kind of database, so that before and
 * after are compared under the same machine load. CERTVAULT_BENCH_PG=postgres://... adds the same rows on PostgreSQL.
 */
import { join } from "node:path";
import { createTestCA } from "../src/testing/index.js";
import type { TestCA, TestIdentity } from "../src/testing/index.js";
import { createScratchDatabase } from "../src/testing/scratch-db.js";
import { median, table } from "./stats.js";
import { buildCli, fetchJson, load, pinSelf, sealedPost, startPinned, stop } from "./server.js";

const ROOT = join(import.meta.dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

interface Figures {
  me: number[];
  get: number[];
  post: number[];
}

async function round(root: string, ca: TestCA, id: TestIdentity, f: Figures): Promise<void> {
  const { CERTVAULT_FROM_SOURCE: _fromSource, ...env } = process.env;
  const server = await startPinned(
    [join(root, "bin", "certvault.js"), "server", ...ca.cliArgs, "--port", "0", "--passphrase-file", ca.passphraseFile],
    {
      ...env,
      CERTVAULT_LOG_LEVEL: "warn",
      CERTVAULT_RATE_LIMIT_IDENTITY: "100000000/60",
      CERTVAULT_RATE_LIMIT_SOURCE: "100000000/60",
      CERTVAULT_MAX_CONCURRENT_REQUESTS: "0",
    },
  );
  try {
    const recordId = await fetchJson(server.url, id, ca.rootPem);
    f.me.push((await load(`${server.url}/v1/me`, id, ca.rootPem, {})).rps);
    f.get.push((await load(`${server.url}/v1/records/${recordId}`, id, ca.rootPem, {})).rps);
    f.post.push((await load(`${server.url}/v1/records`, id, ca.rootPem, sealedPost(id))).rps);
  } finally {
    await stop(server);
  }
}

export async function benchStorage(): Promise<void> {
  pinSelf();
  buildCli();
  const before = process.env.BENCH_BEFORE_ROOT;
  const pg = process.env.CERTVAULT_BENCH_PG;
  const builds: [string, string][] = [
    ["this build", ROOT],
    ...(before ? [["before", before] as [string, string]] : []),
  ];
  const rows: { name: string; unit: string; product: number; bare: number; extra: string }[] = [];
  for (const backend of pg ? ["sqlite", "postgres"] : ["sqlite"]) {
    const scratch = backend === "postgres" ? await createScratchDatabase(pg as string) : undefined;
    const ca = await createTestCA(scratch ? { db: scratch.url } : {});
    try {
      const id = await ca.issueClient("bench");
      const figures = new Map(builds.map(([name]) => [name, { me: [], get: [], post: [] } as Figures]));
      for (let run = 0; run < RUNS; run++)
        for (const [name, root] of builds) await round(root, ca, id, figures.get(name) as Figures);
      for (const [name, f] of figures) {
        const tag = `${name}, ${backend}`;
        rows.push({
          name: `GET /v1/me (c=50), ${tag}`,
          unit: "req/s",
          product: median(f.me),
          bare: median(f.me),
          extra: "",
        });
        const ratio = (xs: number[]): string => `median of per-run ratios ${pct(xs.map((x, i) => x / (f.me[i] ?? 1)))}`;
        rows.push({
          name: `GET 1 KiB record vs /v1/me, ${tag}`,
          unit: "req/s",
          product: median(f.get),
          bare: median(f.me),
          extra: ratio(f.get),
        });
        rows.push({
          name: `POST 1 KiB client-sealed vs /v1/me, ${tag}`,
          unit: "req/s",
          product: median(f.post),
          bare: median(f.me),
          extra: ratio(f.post),
        });
      }
    } finally {
      await ca.cleanup();
      await scratch?.drop();
    }
  }
  console.log(
    `\nstorage bench: ${RUNS} runs x ${process.env.BENCH_SECONDS ?? 5} s per row, server on CPU 0, load on CPU 1`,
  );
  table(rows);
}

function pct(xs: number[]): string {
  return `${Math.round(median(xs) * 100)} %`;
}
