/**
 * Test helpers for the operator console: HTTPS calls with a client certificate (what curl does), a console session
 * (the cookie and the form token a page hands out), and where screenshots go.
 */
import { Agent, request } from "node:https";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request over a fresh connection (no keep-alive: each call is a new TLS handshake, as a new client's). */
export function call(
  ca: TestCA,
  who: Pick<TestIdentity, "certPem" | "keyPem">,
  url: string,
  o: CallOptions = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const agent = new Agent({ keepAlive: false, ca: ca.rootPem, cert: who.certPem, key: who.keyPem });
    const req = request(url, { method: o.method ?? "GET", agent, headers: o.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        agent.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on("error", (err) => {
      agent.destroy();
      reject(err);
    });
    req.end(o.body);
  });
}

export const errorCode = (a: Answer): string | undefined => {
  try {
    return (JSON.parse(a.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
};

export interface Session {
  cookie: string;
  token: string;
}

/** Opens a console page as `who` and keeps what a browser would: the session cookie and the form token. */
export async function openSession(
  ca: TestCA,
  who: Pick<TestIdentity, "certPem" | "keyPem">,
  base: string,
  path = "/admin/certificates",
): Promise<Session> {
  const page = await call(ca, who, base + path);
  if (page.status !== 200) throw new Error(`GET ${path}: ${page.status} ${page.body}`);
  const setCookie = ([] as string[]).concat(page.headers["set-cookie"] ?? []);
  const cookie = setCookie.map((c) => c.split(";")[0] ?? "").find((c) => c.startsWith("__Host-certvault-console="));
  const token = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!cookie || !token) throw new Error("the console page set no session cookie or form token");
  return { cookie, token };
}

/** A form POST as the console's own pages send it (Origin = the console's origin), unless `headers` say otherwise. */
export function postForm(
  ca: TestCA,
  who: Pick<TestIdentity, "certPem" | "keyPem">,
  url: string,
  form: Record<string, string>,
  headers: Record<string, string>,
): Promise<Answer> {
  return call(ca, who, url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

/** Screenshots of this run (not committed): CERTVAULT_ARTIFACTS, or a fresh directory under the temp dir. */
export function artifactsDir(): string {
  const dir =
    process.env.CERTVAULT_ARTIFACTS ??
    join(tmpdir(), "certvault-artifacts", `console-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
