/**
 * The attacker's tools for test/hostile: root on the API node (the real server, with a hand on its request handling,
 * answering some requests with lies and passing the rest to the genuine handler), and the judges (the stored
 * envelope, openssl with the attacker's key).
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { openssl } from "./openssl.js";
import { rowsIn } from "./db.js";

/** Answers a request itself (true) or lets the genuine server handle it (false). */
export type Lie = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface Hijack {
  /** Every non-GET request that reached the server while hijacked ("PUT /v1/records/..."), lied to or passed on. */
  writes: string[];
  restore(): void;
}

/** Puts `lie` in front of the real server's handler (its TLS, mTLS and database stay the real ones). */
export function hijack(server: TestServer, lie: Lie): Hijack {
  const srv = server.running.server;
  const genuine = srv.listeners("request") as ((req: IncomingMessage, res: ServerResponse) => void)[];
  srv.removeAllListeners("request");
  const writes: string[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== "GET") writes.push(`${req.method ?? "?"} ${req.url ?? "?"}`);
    Promise.resolve(lie(req, res)).then(
      (handled) => {
        if (!handled) for (const l of genuine) l.call(srv, req, res);
      },
      (err: unknown) => res.destroy(err as Error),
    );
  };
  srv.on("request", handler);
  return {
    writes,
    restore() {
      srv.removeListener("request", handler);
      for (const l of genuine) srv.on("request", l);
    },
  };
}

export function answerJson(res: ServerResponse, body: unknown, status = 200): true {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
  return true;
}

export function answerCrl(res: ServerResponse, der: Uint8Array): true {
  res.writeHead(200, { "content-type": "application/pkix-crl" });
  res.end(der);
  return true;
}

/** The error code a promise rejects with ("ok" when it resolves): typed SDK errors carry their class's code. */
export function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (err: unknown) => (err as { code?: unknown }).code?.toString() ?? String(err),
  );
}

/** The error a promise rejects with (undefined when it resolves). */
export function errorOf(p: Promise<unknown>): Promise<(Error & { code?: string }) | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => err as Error & { code?: string },
  );
}

/** The envelope the database holds for `id`: its row's, or its chunks joined (store/record-chunks.ts). */
export async function storedEnvelope(ca: TestCA, id: string): Promise<Uint8Array> {
  const row = (await ca.db("records").where({ id }).first("envelope", "chunks")) as
    { envelope: Buffer; chunks: number } | undefined;
  if (!row) throw new Error(`no record ${id} in the database`);
  if (Number(row.chunks) === 0) return new Uint8Array(row.envelope);
  const chunks = (await ca.db("record_chunks").where({ record_id: id }).orderBy("seq").pluck("bytes")) as Buffer[];
  return new Uint8Array(Buffer.concat(chunks));
}

export async function recordCount(ca: TestCA, owner: string): Promise<number> {
  return rowsIn(ca.db, "records", { owner });
}

/** `openssl cms -decrypt` of `envelope` with `who`'s key: exit code and whatever it wrote. */
export async function opensslDecrypt(
  envelope: Uint8Array,
  who: Pick<TestIdentity, "certPath" | "keyPath" | "dir">,
): Promise<{ code: number | null; out: Buffer }> {
  const file = join(who.dir, `hostile-${randomBytes(6).toString("hex")}.der`);
  writeFileSync(file, envelope);
  writeFileSync(`${file}.out`, "");
  const r = await openssl([
    "cms",
    "-decrypt",
    "-binary",
    "-inform",
    "DER",
    "-in",
    file,
    "-inkey",
    who.keyPath,
    "-recip",
    who.certPath,
    "-out",
    `${file}.out`,
  ]);
  return { code: r.code, out: readFileSync(`${file}.out`) };
}
