/**
 * A throwaway PostgreSQL cluster of a test's own (initdb + pg_ctl under a temp dir, on a free port), so that a test
 * can stop and start the database without touching the cluster other tests use. Run as the `postgres` user when this
 * process is root (initdb refuses root). Binaries from /usr/lib/postgresql/<version>/bin (Debian) or PATH.
 */
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { runProcess } from "./cli.js";

export interface TempPostgres {
  /** postgres://certvault@127.0.0.1:PORT/certvault (trust authentication on loopback). */
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** The directory holding initdb and pg_ctl, or undefined when PostgreSQL's server binaries are not installed. */
export function postgresBinDir(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    for (const v of readdirSync(base).sort().reverse()) {
      const dir = join(base, v, "bin");
      if (existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
    }
  }
  try {
    const initdb = execFileSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" }).trim();
    return initdb ? initdb.replace(/\/initdb$/, "") : undefined;
  } catch {
    return undefined;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default). The outage test stops
 * the cluster and starts it again on the same port; a port from listen(0) could go to another test file's server or
 * client in between, since mocha runs two files at once (found by review). Nothing takes a port below that range
 * unless it asks for that port.
 */
async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    /* not Linux: the default */
  }
  const from = Math.max(1024, low - 12000);
  for (let i = 0; i < 50; i++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${from}..${low - 1}`);
}

export async function createTempPostgres(bin: string): Promise<TempPostgres> {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "certvault-pg-"));
  const data = join(dir, "data");
  if (root) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
  }
  const run = async (tool: string, args: string[]): Promise<void> => {
    const cmd = root ? "runuser" : join(bin, tool);
    const argv = root ? ["-u", "postgres", "--", join(bin, tool), ...args] : args;
    const r = await runProcess(cmd, argv, { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`${tool} ${args.join(" ")} failed (${r.code}): ${r.stderr || r.stdout}`);
  };
  await run("initdb", ["-D", data, "-U", "certvault", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  // Unix socket in the temp dir, TCP on loopback only; fsync off: a throwaway cluster.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const start = (): Promise<void> =>
    run("pg_ctl", ["-D", data, "-o", opts, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  await start();
  await run("createdb", ["-h", dir, "-p", String(port), "-U", "certvault", "certvault"]);
  let running = true;
  return {
    url: `postgres://certvault@127.0.0.1:${port}/certvault`,
    port,
    async stop() {
      // -m fast: what an operator's restart or a failover does: sessions are terminated (57P01), then refused.
      await run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
