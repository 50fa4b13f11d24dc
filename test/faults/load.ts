/**
 * Steady load for the fault tests: a few keep-alive clients that write, read and list records in a loop against a
 * real server, recording every answer (status, error code, Retry-After, how long it took, when it started), so that a
 * test can inject a fault under load and then judge each answer by when it was asked.
 */
import { Agent, request } from "node:https";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";

export interface Answer {
  method: string;
  start: number;
  ms: number;
  /** -1: no HTTP answer (connection refused or reset). */
  status: number;
  code?: string;
  retryAfter?: string;
  /** The id a 201 acknowledged. */
  id?: string;
}

export function call(
  agent: Agent,
  url: string,
  method = "GET",
  body?: Buffer | string,
): Promise<Answer & { body: Buffer }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const req = request(url, { method, agent, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const b = Buffer.concat(chunks);
        const status = res.statusCode ?? 0;
        let code: string | undefined;
        let id: string | undefined;
        if ((res.headers["content-type"] ?? "").includes("json")) {
          const j = JSON.parse(b.toString()) as { error?: { code?: string }; id?: string };
          code = j.error?.code;
          if (status === 201) id = j.id;
        }
        const ra = res.headers["retry-after"];
        resolve({
          method,
          start,
          ms: Date.now() - start,
          status,
          body: b,
          ...(code ? { code } : {}),
          ...(id ? { id } : {}),
          ...(ra ? { retryAfter: ra } : {}),
        });
      });
    });
    req.on("timeout", () => req.destroy(new Error("no answer in 60 s")));
    req.on("error", () => resolve({ method, start, ms: Date.now() - start, status: -1, body: Buffer.alloc(0) }));
    req.end(body);
  });
}

export function agentFor(ca: TestCA, id: TestIdentity, maxSockets = 2): Agent {
  return new Agent({ keepAlive: true, maxSockets, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
}

export interface Load {
  answers: Answer[];
  /** Ids whose POST was answered 201, with the size sent. */
  acknowledged: Map<string, number>;
  stop(): Promise<void>;
}

/** `workers` loops per agent: POST a record of `bytes`, GET it back when acknowledged, list now and then. */
export function startLoad(url: string, agents: Agent[], opts: { workers?: number; bytes?: number } = {}): Load {
  const answers: Answer[] = [];
  const acknowledged = new Map<string, number>();
  let stopped = false;
  const bytes = opts.bytes ?? 512;
  const loop = async (agent: Agent, w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const body = Buffer.alloc(bytes, 0x61 + ((w + i) % 26));
      const put = await call(agent, `${url}/v1/records`, "POST", body);
      answers.push(strip(put));
      if (put.status === 201 && put.id) {
        acknowledged.set(put.id, bytes);
        answers.push(strip(await call(agent, `${url}/v1/records/${put.id}`)));
      }
      if (i % 5 === 0) answers.push(strip(await call(agent, `${url}/v1/records?limit=10`)));
      // After a refusal, a short pause (as a client honouring Retry-After would), so an outage is not a busy loop.
      if (put.status !== 201) await new Promise((r) => setTimeout(r, 50));
    }
  };
  const loops = agents.flatMap((a, n) => Array.from({ length: opts.workers ?? 2 }, (_, w) => loop(a, n * 10 + w)));
  return {
    answers,
    acknowledged,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

function strip(a: Answer & { body?: Buffer }): Answer {
  const { body: _body, ...rest } = a;
  return rest;
}

/** A one-line summary of answers for assertion messages: "201 x120, 503 database_unavailable x40, ...". */
export function tally(answers: readonly Answer[]): string {
  const m = new Map<string, number>();
  for (const a of answers) {
    const k = `${a.method} ${a.status}${a.code ? ` ${a.code}` : ""}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, n]) => `${k} x${n}`).join(", ");
}
