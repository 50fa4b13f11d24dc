/**
 * TLS resumption against full handshakes, certvault beside the bare node:https server, rounds alternating so that
 * host noise hits both alike: the same s_time client (bench/handshakes.ts) with TLS 1.3 (a refused request line, so
 * that the client reads its ticket) and TLS 1.2 (handshake alone). Prints the server's CPU per connection, medians.
 * A quicker look than `npm run bench -- server` at one question: what the product adds to a resumed connection.
 * Run: `npm run bench -- resumption` or node --import tsx bench/resumption.ts (env BENCH_RUNS, BENCH_TLS_PROCS; BENCH_BARE_CRL=1 gives the bare server
 * certvault's CRLs as well).
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA } from "../src/testing/index.js";
import { sTime } from "./handshakes.js";
import type { SessionStats, STimeOptions } from "./handshakes.js";
import { buildCli, pinSelf, startPinned, stop } from "./server.js";
import { median } from "./stats.js";

const ROOT = join(import.meta.dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function crlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...crlFiles(p));
    else if (/crl/i.test(e.name) && readFileSync(p, "utf8").includes("BEGIN X509 CRL")) out.push(p);
  }
  return out;
}

export async function benchResumption(): Promise<void> {
  pinSelf();
  buildCli();
  const ca = await createTestCA();
  try {
    const id = await ca.issueClient("bench");
    const serverKey = join(ca.home, "server", "server.key");
    const caBundle = join(ca.home, "bundle.pem");
    writeFileSync(caBundle, ca.rootPem + ca.intermediatePem);
    const { CERTVAULT_FROM_SOURCE: _fromSource, ...env } = process.env;
    const cvArgs = ["server", "--home", ca.home, "--port", "0", "--passphrase-file", ca.passphraseFile];
    const common = {
      certFile: id.certPath,
      keyFile: id.keyPath,
      caFile: caBundle,
      procs: Number(process.env.BENCH_TLS_PROCS ?? 12),
      seconds: 3,
      cpu: "1",
    };
    const cases: [string, Partial<STimeOptions>][] = [
      ["TLS 1.3, request line refused", { www: "/ x" }],
      ["TLS 1.2, handshake alone", { tls12: true }],
    ];
    const results = new Map<string, SessionStats[]>();
    const push = (k: string, s: SessionStats): void => void results.set(k, [...(results.get(k) ?? []), s]);
    for (let run = 0; run < RUNS; run++) {
      const cv = await startPinned([join(ROOT, "bin", "certvault.js"), ...cvArgs], {
        ...env,
        CERTVAULT_LOG_LEVEL: "warn",
      });
      // The server's certificate exists once certvault has started (it makes it).
      const chainFile = join(ca.home, "server", "chain.pem");
      writeFileSync(chainFile, readFileSync(join(ca.home, "server", "server.crt"), "utf8") + ca.intermediatePem);
      // The product's CRLs, once it has written them (for BENCH_BARE_CRL).
      const crls = process.env.BENCH_BARE_CRL ? crlFiles(ca.home).join(",") : "";
      for (const [name, o] of cases)
        for (const mode of ["new", "reuse"] as const)
          push(
            `certvault ${name} ${mode}`,
            await sTime({ ...common, ...o, url: cv.url, serverPid: cv.child.pid as number, mode }),
          );
      await stop(cv);
      const bareArgs = [serverKey, chainFile, caBundle, ca.passphrase, ...(crls ? [crls] : [])];
      const bare = await startPinned(["--import", "tsx", join(ROOT, "bench", "bare-server.ts"), ...bareArgs]);
      for (const [name, o] of cases)
        for (const mode of ["new", "reuse"] as const)
          push(
            `bare ${name} ${mode}`,
            await sTime({ ...common, ...o, url: bare.url, serverPid: bare.child.pid as number, mode }),
          );
      await stop(bare);
    }
    console.log(`resumption: ${RUNS} rounds; server CPU per connection (µs), medians`);
    for (const server of ["certvault", "bare"])
      for (const [name] of cases) {
        const full = median((results.get(`${server} ${name} new`) ?? []).map((s) => s.cpuUs));
        const res = median((results.get(`${server} ${name} reuse`) ?? []).map((s) => s.cpuUs));
        const reused = median((results.get(`${server} ${name} reuse`) ?? []).map((s) => s.reused));
        console.log(
          `${server.padEnd(10)} ${name.padEnd(30)} full ${Math.round(full)} µs, resumed ${Math.round(res)} µs (${Math.round(100 * reused)} % resumed): ${(full / res).toFixed(2)}x`,
        );
      }
  } finally {
    await ca.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchResumption();
