/**
 * The HTTP surface of a running server (startTestServer, loopback, an admin and a normal identity), spoken over raw
 * TLS sockets. Properties of every case: no 5xx (also none that the server set but never sent: the handler's own
 * status is watched beside the wire), every 4xx a JSON error with a snake_case code, no stack, file path or internal
 * message on the wire, nothing written unless the answer says so (and a 201/204 means the write happened), and a
 * normal GET /v1/me answered right after. "http" sends well-framed requests; "http-framing" breaks the framing.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "node:https";
import { createHash } from "node:crypto";
import { type FuzzTarget, PropertyViolation } from "../harness.js";
import { exchange } from "../http/raw.js";
import type { RawAnswer } from "../http/raw.js";
import { type RequestSpec, materializeRequest, requestSpec } from "../http/spec.js";
import { ADMIN, USER } from "../world.js";
import type { World } from "../world.js";

const LEAK =
  /(\/work\/|\/home\/|node_modules|node:internal|\bat [\w$.<>]+ \(|\.[jt]s:\d+|\b(TypeError|RangeError|SyntaxError|ReferenceError|AsnError|SqliteError|knex)\b|SQLITE_|\bERR_[A-Z_]{3,}|HPE_[A-Z_]+|\bselect \* from\b)/i;
const SNAKE = /^[a-z][a-z0-9_]*$/;

/** Statuses the handler set on responses, sent or not (a 500 whose socket was already gone shows up here). */
const handlerStatuses = new WeakMap<World, number[]>();

function watchHandler(world: World, srv: Server): void {
  if (handlerStatuses.has(world)) return;
  const seen: number[] = [];
  handlerStatuses.set(world, seen);
  srv.prependListener("request", (_req: IncomingMessage, res: ServerResponse) => {
    res.once("close", () => seen.push(res.statusCode));
  });
}

/** What a refusal must leave unchanged. */
async function snapshot(world: World): Promise<string> {
  const db = world.ca.db;
  const [records, grants, requests, revoked] = await Promise.all([
    db("records").select("id", "owner", "version", "size").orderBy("id"),
    db("grants").select("record_id", "grantee").orderBy(["record_id", "grantee"]),
    db("certificate_requests").count({ n: "*" }),
    db("certificates").whereNotNull("revoked_at").count({ n: "*" }),
  ]);
  return createHash("sha256")
    .update(JSON.stringify([records, grants, requests, revoked]))
    .digest("hex");
}

function judgeAnswer(a: RawAnswer, method: string): void {
  if (a.status >= 500 || Number.isNaN(a.status))
    throw new PropertyViolation(`answered ${a.status}: ${a.body.toString("latin1").slice(0, 200)}`);
  const text =
    a.head +
    "\n" +
    (a.status >= 400 || /json|text/.test(a.headers["content-type"] ?? "") ? a.body.toString("latin1") : "");
  const leak = LEAK.exec(text);
  if (leak) throw new PropertyViolation(`answer ${a.status} shows "${leak[0]}": ${text.slice(0, 300)}`);
  if (a.status < 400 || method === "HEAD") return;
  if (!/^application\/json/.test(a.headers["content-type"] ?? ""))
    throw new PropertyViolation(
      `${a.status} without a JSON error (content-type "${a.headers["content-type"] ?? ""}"): ${a.head.split("\r\n")[0]}`,
    );
  let code: unknown;
  try {
    code = (JSON.parse(a.body.toString("utf8")) as { error?: { code?: unknown; message?: unknown } }).error?.code;
  } catch {
    throw new PropertyViolation(`${a.status}: the error body is not JSON`);
  }
  if (typeof code !== "string" || !SNAKE.test(code))
    throw new PropertyViolation(`${a.status}: error code ${JSON.stringify(code)} is not a stable snake_case code`);
}

async function check(world: World, input: Uint8Array): Promise<void> {
  const server = await world.server();
  watchHandler(world, server.running.server);
  const seen = handlerStatuses.get(world) as number[];
  const who = input[0] === 1 ? world.admin : world.user;
  const mode = input[1] ?? 0;
  const bytes = input.subarray(2);
  const method = /^[A-Za-z]*/.exec(Buffer.from(bytes.subarray(0, 16)).toString("latin1"))?.[0] ?? "";
  const peer = { port: server.port, rootPem: world.ca.rootPem, certPem: who.certPem, keyPem: who.keyPem };
  const before = await snapshot(world);
  const seenBefore = seen.length;
  const answer = await exchange(peer, bytes, { hangUp: mode === 1, deadlineMs: 15_000 });
  // Every case ends with a normal request on a new connection, answered 200 for the right identity.
  const me = await exchange(peer, Buffer.from("GET /v1/me HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"), {
    hangUp: false,
    deadlineMs: 15_000,
  });
  if (
    me?.status !== 200 ||
    (JSON.parse(me.body.toString("utf8")) as { identity?: string }).identity !== (input[0] === 1 ? ADMIN : USER)
  ) {
    throw new PropertyViolation(`GET /v1/me right after answered ${me?.status ?? "nothing"}`);
  }
  const late = seen.slice(seenBefore).filter((s) => s >= 500);
  if (late.length > 0) throw new PropertyViolation(`the handler set status ${late.join(", ")} (sent or not)`);
  if (mode === 0 && !answer) throw new PropertyViolation("the server closed the connection without an answer");
  if (answer) judgeAnswer(answer, method);
  const after = await snapshot(world);
  const ok = answer !== undefined && answer.status >= 200 && answer.status < 300;
  if (!ok && after !== before)
    throw new PropertyViolation(`refused (${answer?.status ?? "no answer"}) and yet the database changed`);
  if (ok && ["GET", "HEAD", "OPTIONS"].includes(method) && after !== before)
    throw new PropertyViolation(`${method} changed the database`);
  if (
    answer &&
    (answer.status === 201 || (answer.status === 200 && method === "PUT")) &&
    /^\/v1\/records(\/[0-9a-f]{32})?$/.test(pathOf(bytes))
  ) {
    const id = (JSON.parse(answer.body.toString("utf8")) as { id?: string }).id ?? "";
    if (!(await world.ca.db("records").where({ id, owner: who.name }).first("id")))
      throw new PropertyViolation(`${answer.status} for record ${id}, which is not stored`);
  }
}

function pathOf(bytes: Uint8Array): string {
  return (/^\S+ ([^ ?]*)/.exec(Buffer.from(bytes.subarray(0, 200)).toString("latin1"))?.[1] ?? "").toLowerCase();
}

export const httpTarget: FuzzTarget<RequestSpec> = {
  name: "http",
  arbitrary: requestSpec(false),
  shortRuns: 200,
  materialize: materializeRequest,
  check,
};

export const httpFramingTarget: FuzzTarget<RequestSpec> = {
  name: "http-framing",
  arbitrary: requestSpec(true),
  shortRuns: 150,
  materialize: materializeRequest,
  check,
};
