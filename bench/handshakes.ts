/**
 * Full and resumed mTLS handshakes with a native client: `openssl s_time` (the system OpenSSL, C), several processes
 * in parallel on the load core, each for a fixed time. s_time runs one connection at a time, so one process measures
 * latency; PROCS of them keep the server busy (perf-anchors: one s_time reached ~380/s against bare Node).
 *
 * Besides connections per second (wall clock), each run reads the server's CPU time from /proc/PID/stat before and
 * after: CPU per handshake is what a saturated core would give (1 / that = handshakes per CPU-second) and does not
 * depend on whether the client or the noisy host held the rate down. The server's CPU % says which it was.
 *
 * `-new` without `-www`: the handshake alone (the client closes once it is done), what every new connection costs
 * before any request. `-reuse` needs `-www` on TLS 1.3: the ticket arrives after the handshake, so the client must
 * read to get one; `-new -www` is then the same client doing full handshakes, for the resumption ratio. TLS 1.2
 * sends its ticket within the handshake, so there `-reuse` resumes without a request.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { median, table } from "./stats.js";

export interface SessionStats {
  /** Connections per second over the wall clock, summed over the client processes. */
  perSec: number;
  /** Server CPU per connection, µs (user + system, all threads). */
  cpuUs: number;
  /** Server CPU use during the run, % of one core. */
  cpuPct: number;
  /** Share of the connections that s_time reports as resumed ("r"). */
  reused: number;
  /** Client processes that stopped early on a failed connection. */
  failed: number;
}

export interface STimeOptions {
  /** https://HOST:PORT */
  url: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  mode: "new" | "reuse";
  /** Path to GET on each connection (HTTP/1.0, the server closes); none: the handshake alone. */
  www?: string;
  serverPid: number;
  procs?: number;
  seconds?: number;
  /** Run the clients under `taskset -c CPU`. */
  cpu?: string;
  /** TLS 1.2 only (its ticket comes within the handshake, so `-reuse` resumes without a request); default: 1.3. */
  tls12?: boolean;
}

/** utime + stime of a process (all threads), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name "(...)": state is field 3, utime 14, stime 15 (1-based).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

interface OneClient {
  connections: number;
  failed: number;
  reused: number;
  seconds: number;
}

function oneClient(o: STimeOptions): Promise<OneClient> {
  const u = new URL(o.url);
  const args = ["s_time", "-connect", `${u.hostname}:${u.port}`, `-${o.mode}`, "-time", String(o.seconds ?? 3)];
  args.push("-cert", o.certFile, "-key", o.keyFile, "-CAfile", o.caFile, ...(o.www ? ["-www", o.www] : []));
  if (o.tls12) args.push("-tls1_2");
  const [cmd, full] = o.cpu ? ["taskset", ["-c", o.cpu, "openssl", ...args]] : ["openssl", args];
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, full, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The progress line: one character per connection, "r" for a resumed one. s_time stops at the first connection
      // that fails (a reset under load) without its summary: what it did until then still counts, and so does that.
      const progress = out.split("\n").find((l) => /^[*r123t]+$/.test(l)) ?? "";
      const summary = /(\d+) connections in [\d.]+s;/.exec(out);
      if (code !== 0 || progress.length === 0)
        return reject(new Error(`openssl s_time failed (${code}): ${out.slice(-300)}`));
      const reused = (progress.match(/r/g) ?? []).length;
      resolve({ connections: progress.length, reused, seconds, failed: summary ? 0 : 1 });
    });
  });
}

export async function sTime(o: STimeOptions): Promise<SessionStats> {
  const cpu0 = cpuSeconds(o.serverPid);
  const t0 = process.hrtime.bigint();
  const runs = await Promise.all(Array.from({ length: o.procs ?? 8 }, () => oneClient(o)));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(o.serverPid) - cpu0;
  const connections = runs.reduce((n, r) => n + r.connections, 0);
  return {
    perSec: runs.reduce((n, r) => n + r.connections / r.seconds, 0),
    cpuUs: connections > 0 ? (cpu * 1e6) / connections : 0,
    cpuPct: (100 * cpu) / wall,
    reused: connections > 0 ? runs.reduce((n, r) => n + r.reused, 0) / connections : 0,
    failed: runs.reduce((n, r) => n + r.failed, 0),
  };
}

type Common = Omit<STimeOptions, "url" | "serverPid" | "mode" | "www" | "tls12">;

interface Row {
  name: string;
  product: SessionStats[];
  base: SessionStats[];
  baseName: string;
}

/** Row names, for the bench's summary of issue 17's targets. */
export const HANDSHAKE_ROWS = {
  full: "full mTLS handshakes, s_time -new",
  resumed13: "TLS 1.3 resumed vs full, request line refused",
  resumed13Bare: "ceiling: the same on bare node:https",
  resumed13Get: "TLS 1.3 resumed + GET /v1/me vs full + GET",
  resumed13GetBare: "ceiling: resumed + GET / vs full, bare",
  resumed12: "TLS 1.2 resumed vs full handshake",
  resumed12Bare: "ceiling: TLS 1.2 resumed vs full, bare",
} as const;

/**
 * The handshake rows of the server bench: full handshakes of certvault against the bare server, and resumed against
 * full handshakes with the same client, on certvault and (the ceiling: what Node 20 and its OpenSSL allow with these
 * TLS settings) on the bare node:https server. Collected over the bench's runs, printed as medians.
 */
export class HandshakeRows {
  private readonly rows = new Map<string, Row>();
  private bareFull: SessionStats | undefined;

  constructor(private readonly common: Common) {}

  private run(
    url: string,
    serverPid: number,
    mode: "new" | "reuse",
    more: Partial<STimeOptions> = {},
  ): Promise<SessionStats> {
    return sTime({ ...this.common, url, serverPid, mode, ...more });
  }

  /**
   * On the bare server: full handshakes, the baseline of the first row; then resumed against full handshakes with the
   * same client and requests as on certvault. The bare server has no clientError handler: Node's default answers the
   * refused request line with a 400 and destroys the socket, as certvault's (server/tls/client-error.ts) does.
   */
  async bare(url: string, serverPid: number): Promise<void> {
    const R = HANDSHAKE_ROWS;
    this.bareFull = await this.run(url, serverPid, "new");
    const full13 = await this.run(url, serverPid, "new", { www: "/ x" });
    const resumed13 = await this.run(url, serverPid, "reuse", { www: "/ x" });
    this.add(R.resumed13Bare, resumed13, full13, "full");
    const full13Get = await this.run(url, serverPid, "new", { www: "/" });
    const resumed13Get = await this.run(url, serverPid, "reuse", { www: "/" });
    this.add(R.resumed13GetBare, resumed13Get, full13Get, "full");
    const full12 = await this.run(url, serverPid, "new", { tls12: true });
    const resumed12 = await this.run(url, serverPid, "reuse", { tls12: true });
    this.add(R.resumed12Bare, resumed12, full12, "full");
  }

  /** On certvault, after bare() in the same run. */
  async product(url: string, serverPid: number): Promise<void> {
    const R = HANDSHAKE_ROWS;
    const full = await this.run(url, serverPid, "new");
    if (this.bareFull) this.add(R.full, full, this.bareFull, "bare");
    const full13 = await this.run(url, serverPid, "new", { www: "/v1/me" });
    const resumed13 = await this.run(url, serverPid, "reuse", { www: "/v1/me" });
    this.add(R.resumed13Get, resumed13, full13, "full");
    // The request line "GET / x HTTP/1.0" is refused by Node's HTTP parser (400, server/tls/client-error.ts): the client
    // reads, so it gets its TLS 1.3 ticket, and the connection costs the handshake and little else (no Koa, no audit).
    const fullBare13 = await this.run(url, serverPid, "new", { www: "/ x" });
    const resumedBare13 = await this.run(url, serverPid, "reuse", { www: "/ x" });
    this.add(R.resumed13, resumedBare13, fullBare13, "full");
    const full12 = await this.run(url, serverPid, "new", { tls12: true });
    const resumed12 = await this.run(url, serverPid, "reuse", { tls12: true });
    this.add(R.resumed12, resumed12, full12, "full");
  }

  /** Per run: the product's and the baseline's figures of row `name` (empty when it was not measured). */
  runs(name: string): { product: SessionStats; base: SessionStats }[] {
    const row = this.rows.get(name);
    return row ? row.product.map((product, i) => ({ product, base: row.base[i] as SessionStats })) : [];
  }

  print(): void {
    const procs = this.common.procs ?? 8;
    console.log(`\nTLS handshakes: openssl s_time, ${procs} processes in parallel on the load core, median of runs`);
    console.log(
      "(CPU: the server's CPU time per connection, and its CPU use during the run: near 100 % = server-bound)",
    );
    const us = (xs: SessionStats[], f: (s: SessionStats) => number): number => Math.round(median(xs.map(f)));
    const order = Object.values(HANDSHAKE_ROWS) as string[];
    table(
      [...this.rows.values()]
        .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))
        .map((r) => ({
          name: r.name,
          unit: "conn/s",
          product: median(r.product.map((s) => s.perSec)),
          bare: median(r.base.map((s) => s.perSec)),
          base: r.baseName,
          extra:
            `CPU ${us(r.product, (s) => s.cpuUs)} vs ${us(r.base, (s) => s.cpuUs)} µs/conn ` +
            `(per CPU-second: ${Math.round(
              (100 * us(r.base, (s) => s.cpuUs)) /
                Math.max(
                  1,
                  us(r.product, (s) => s.cpuUs),
                ),
            )} %), ` +
            `busy ${us(r.product, (s) => s.cpuPct)} / ${us(r.base, (s) => s.cpuPct)} %, ` +
            `resumed ${us(r.product, (s) => 100 * s.reused)} %`,
        })),
    );
  }

  private add(name: string, product: SessionStats, base: SessionStats, baseName: string): void {
    const row = this.rows.get(name) ?? { name, product: [], base: [], baseName };
    row.product.push(product);
    row.base.push(base);
    this.rows.set(name, row);
  }
}
