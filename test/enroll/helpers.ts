/**
 * Helpers for the enrollment tests: the server as a process with --enroll-port (stdout lines and every log line
 * captured), direct requests to the enrollment listener, and looks into the registry, the token table and the audit.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { request } from "node:https";
import { expect } from "chai";
import type { TestCA } from "../../src/testing/index.js";
import { CLI_ENTRY, REPO_ROOT, cliEnv, runCli } from "../helpers/cli.js";
import { tableNames } from "../helpers/db.js";

export interface EnrollServer {
  child: ChildProcess;
  url: string;
  enrollUrl: string;
  /** Everything the process wrote to stdout, in order. */
  stdout(): string;
  /** Everything the process wrote to stderr (pino's JSON lines, at the level asked for). */
  logs(): string;
  stop(): Promise<void>;
}

/** `certvault server --port 0 --enroll-port 0` over a test CA; resolves once both lines are printed. */
export function startEnrollServer(ca: TestCA, env: Record<string, string> = {}): Promise<EnrollServer> {
  const child = spawn(
    process.execPath,
    [CLI_ENTRY, "server", ...ca.cliArgs, "--port", "0", "--enroll-port", "0", "--passphrase-file", ca.passphraseFile],
    {
      cwd: REPO_ROOT,
      env: cliEnv({
        CERTVAULT_RATE_LIMIT_IDENTITY: "0",
        CERTVAULT_RATE_LIMIT_SOURCE: "0",
        CERTVAULT_LOG_LEVEL: "trace",
        ...env,
      }),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  let out = "";
  let err = "";
  child.stderr?.on("data", (b: Buffer) => (err += b.toString()));
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      child.removeAllListeners("exit");
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    });
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /^listening on (https:\/\/\S+)\nenrollment on (https:\/\/\S+)\n/.exec(out);
      if (m?.[1] && m[2]) resolve({ child, url: m[1], enrollUrl: m[2], stdout: () => out, logs: () => err, stop });
    });
    child.once("exit", (code) => reject(new Error(`the server exited with ${code}: ${err}`)));
  });
}

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A request to the enrollment listener, trusting the root only (no client certificate). */
export function enrollRequest(
  enrollUrl: string,
  rootPem: string,
  opts: { method?: string; path?: string; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(opts.path ?? "/v1/enroll", enrollUrl),
      { method: opts.method ?? "POST", ca: rootPem, agent: false, headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }),
        );
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Serials in the registry, as `ca list --json` prints them. */
export async function listedSerials(ca: TestCA): Promise<string[]> {
  const r = await runCli(["ca", "list", "--json", ...ca.cliArgs]);
  expect(r.code, r.stderr).to.equal(0);
  return (JSON.parse(r.stdout) as { serial: string }[]).map((c) => c.serial).sort();
}

export interface TokenJson {
  id: string;
  identity: string;
  token: string;
  fingerprint: string;
  expiresAt: string;
}

export async function makeToken(ca: TestCA, name: string, extra: string[] = []): Promise<TokenJson> {
  const r = await runCli(["ca", "token", "--name", name, "--json", ...extra, ...ca.cliArgs]);
  expect(r.code, r.stderr).to.equal(0);
  return JSON.parse(r.stdout) as TokenJson;
}

export interface AuditRow {
  seq: number;
  actor: string;
  action: string;
  status: number;
  detail: Record<string, unknown> | null;
}

/** Audit entries after `afterSeq`, read from the table. */
export async function auditSince(ca: TestCA, afterSeq: number): Promise<AuditRow[]> {
  const rows = (await ca.db("audit_entries").where("seq", ">", afterSeq).orderBy("seq")) as {
    seq: number;
    actor: string;
    action: string;
    status: number;
    detail: string | null;
  }[];
  return rows.map((r) => ({
    seq: Number(r.seq),
    actor: r.actor,
    action: r.action,
    status: Number(r.status),
    detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
  }));
}

export async function auditTail(ca: TestCA): Promise<number> {
  const row = (await ca.db("audit_entries").max("seq as m").first()) as { m: number | null } | undefined;
  return Number(row?.m ?? 0);
}

/** A column's value as text: bytes as latin1 (so that bytes of a secret are found), JSON and dates spelled out. */
function cellText(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString("latin1");
  if (v instanceof Date) return v.toISOString();
  if (v !== null && typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Every row of every table, as text (for "the token is nowhere in the database"); SQLite or PostgreSQL. */
export async function dumpDatabase(ca: TestCA): Promise<string> {
  let text = "";
  for (const name of await tableNames(ca.db)) {
    const rows = (await ca.db(name).select("*")) as Record<string, unknown>[];
    for (const r of rows) text += Object.values(r).map(cellText).join("\t") + "\n";
  }
  return text;
}
