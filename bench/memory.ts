/**
 * The RSS rows of bench/server.ts alone, quickly, and where the memory is. The compiled server is started as that
 * bench starts it; RSS is the peak under 100 keep-alive connections of GET /v1/me, fresh and after 10 MiB uploads and
 * reads (a fixed count, c=2: SDK puts, client-sealed; SDK gets; plaintext POSTs, server-sealed), with the server's own
 * process.memoryUsage() (bench/memory-probe.mjs) and /proc status (anonymous vs file-backed) between phases, and at
 * the end after a forced full GC: what malloc keeps of what the GC freed.
 *
 * `npx tsx bench/memory.ts [--no-build]`. Environment: MEM_ENV="K=V ..." adds to the server's (MALLOC_ARENA_MAX=2, ...);
 * MEM_ROOT runs the compiled server of another (built) checkout, for a before/after in one session; MEM_OPS the count
 * of each kind of operation (default 16); MEM_TRIM=1 calls malloc_trim(0) in the server at the end (gdb), to show how
 * much of what is left is free memory that glibc keeps.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "node:https";
import { createPrivateKey, randomBytes } from "node:crypto";
import { createTestCA } from "../src/testing/index.js";
import type { TestIdentity } from "../src/testing/index.js";
import { CertvaultClient } from "../src/client-sdk/index.js";
import { buildCli, load, pinSelf, startPinned, stop } from "./server.js";

const ROOT = join(import.meta.dirname, "..");
const SERVER_ROOT = process.env.MEM_ROOT ?? ROOT;
const TEN_MIB = 10 * 1024 * 1024;
const OPS = Number(process.env.MEM_OPS ?? 16);
const MB = 2 ** 20;

function status(pid: number): { rss: number; anon: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
  return { rss: Math.round(kb("VmRSS")), anon: Math.round(kb("RssAnon")) };
}

/** Resident MB by kind of mapping: the brk heap (glibc's main arena), anonymous mappings (thread arenas, V8's heap, large mmapped blocks), files. */
function maps(pid: number): string {
  const out = { heap: 0, anon: 0, anonBig: 0, file: 0 };
  let kind: keyof typeof out = "anon";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) kind = head[1] === "[heap]" ? "heap" : head[1] === "" ? "anon" : "file";
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      const kb = Number(rss[1]);
      out[kind] += kb;
      if (kind === "anon" && kb >= 8192) out.anonBig += kb;
    }
  }
  return `[heap] ${Math.round(out.heap / 1024)} anon ${Math.round(out.anon / 1024)} (in mappings of 8+ MB ${Math.round(out.anonBig / 1024)}) file ${Math.round(out.file / 1024)}`;
}

async function peakDuring(pid: number, work: () => Promise<unknown>): Promise<number> {
  let peak = 0;
  const t = setInterval(() => (peak = Math.max(peak, status(pid).rss)), 100);
  try {
    await work();
  } finally {
    clearInterval(t);
  }
  return Math.max(peak, status(pid).rss);
}

/** The server's memoryUsage() (after a full GC with `gc`), in MB. */
async function probe(pid: number, file: string, gc: boolean): Promise<string> {
  if (existsSync(file)) unlinkSync(file);
  process.kill(pid, gc ? "SIGWINCH" : "SIGUSR2");
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 50));
  const u = JSON.parse(readFileSync(file, "utf8")) as NodeJS.MemoryUsage;
  const st = status(pid);
  return (
    `rss ${st.rss} anon ${st.anon} heap ${Math.round(u.heapUsed / MB)}/${Math.round(u.heapTotal / MB)} ` +
    `external ${Math.round(u.external / MB)} arrayBuffers ${Math.round(u.arrayBuffers / MB)} | ${maps(pid)}`
  );
}

/** `count` operations, `concurrency` at a time; returns the wall time per operation in ms. */
async function times(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await op(next++);
    }),
  );
  return Math.round((performance.now() - start) / count);
}

function post(url: string, agent: Agent, body: Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = request(`${url}/v1/records`, { method: "POST", agent }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 201 ? resolve() : reject(new Error(`POST ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  pinSelf();
  if (!process.argv.includes("--no-build")) buildCli();
  const ca = await createTestCA();
  try {
    const id: TestIdentity = await ca.issueClient("bench");
    const { CERTVAULT_FROM_SOURCE: _f, ...env } = process.env;
    const probeFile = join(ca.home, "probe.json");
    const extra = Object.fromEntries(
      (process.env.MEM_ENV ?? "")
        .split(/\s+/)
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    );
    const server = await startPinned(
      [
        "--expose-gc",
        "--import",
        join(ROOT, "bench", "memory-probe.mjs"),
        join(SERVER_ROOT, "bin", "certvault.js"),
        "server",
        "--home",
        ca.home,
        "--port",
        "0",
        "--passphrase-file",
        ca.passphraseFile,
      ],
      {
        ...env,
        ...extra,
        CERTVAULT_LOG_LEVEL: "warn",
        CERTVAULT_RATE_LIMIT_IDENTITY: "100000000/60",
        CERTVAULT_RATE_LIMIT_SOURCE: "100000000/60",
        CERTVAULT_MAX_CONCURRENT_REQUESTS: "0",
        CERTVAULT_PROBE_FILE: probeFile,
      },
    );
    const pid = server.child.pid as number;
    const show = async (label: string, gc = false): Promise<void> =>
      console.log(`${label}: ${await probe(pid, probeFile, gc)}`);
    try {
      const fresh = await peakDuring(pid, () => load(`${server.url}/v1/me`, id, ca.rootPem, { connections: 100 }));
      await show("after the fresh load");
      const client = new CertvaultClient({
        server: server.url,
        caPem: ca.rootPem,
        certPem: id.certPem,
        key: createPrivateKey(id.keyPem),
      });
      const data = randomBytes(TEN_MIB);
      const ids: string[] = [];
      const agent = new Agent({ keepAlive: true, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
      const uploads = await peakDuring(pid, async () => {
        const put = await times(OPS, 2, async () => void ids.push(await client.put(data)));
        await show(`after ${OPS} SDK puts (${put} ms each)`);
        const get = await times(OPS, 2, async (i) => {
          const back = await client.get(ids[i % ids.length] as string);
          if (!Buffer.from(back).equals(data)) throw new Error("SDK get returned other bytes");
        });
        await show(`after ${OPS} SDK gets (${get} ms each)`);
        const posted = await times(OPS, 2, () => post(server.url, agent, data));
        await show(`after ${OPS} server-sealed POSTs (${posted} ms each)`);
      });
      client.close();
      agent.destroy();
      const used = await peakDuring(pid, () => load(`${server.url}/v1/me`, id, ca.rootPem, { connections: 100 }));
      await show("after the second load");
      await show("after a full GC", true);
      const kept = status(pid).rss;
      // What of that is free memory that malloc keeps: malloc_trim(0) in the server, through gdb (MEM_TRIM=1).
      let trimmed = "";
      if (process.env.MEM_TRIM === "1") {
        execFileSync("gdb", ["-p", String(pid), "-batch", "-ex", "call (int)malloc_trim(0)"], { stdio: "ignore" });
        await show("after malloc_trim(0)");
        trimmed = ` afterTrim ${status(pid).rss}`;
      }
      console.log(`ROW fresh ${fresh} used ${used} uploadsPeak ${uploads} afterGc ${kept}${trimmed}`);
    } finally {
      await stop(server);
    }
  } finally {
    await ca.cleanup();
  }
}

await main();
