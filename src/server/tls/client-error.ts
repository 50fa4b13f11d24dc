/**
 * What the server does when Node's HTTP parser fails on a connection (`clientError`). Node's default handler writes
 * `400 Bad Request` and destroys the socket at once, even while a complete request before the bad bytes is still
 * being handled: a POST or DELETE was carried out and its 201/204 never left (issue 19; traps.md). Here:
 * - a request in flight whose body arrived whole finishes, its answer is written with `Connection: close`, and the
 *   connection is closed once every answer on it has left;
 * - an in-flight request whose body did not arrive whole cannot have applied (routes read the whole body before any
 *   write): it is cut, with a JSON error first when nothing of its answer was sent yet;
 * - with nothing in flight the client gets a JSON error with a stable code and the connection is closed.
 * Never a stack or a parser message on the wire.
 */
import { STATUS_CODES } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "node:https";
import type { Duplex } from "node:stream";
import { HSTS_HEADER } from "../middleware/hsts.js";
import { errorBody, httpAnswer } from "../errors.js";
import {
  ExpectationFailedError,
  HeadersTooLargeError,
  MalformedRequestError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RequestTimeoutError,
} from "../../errors/index.js";
import type { CertvaultError } from "../../errors/index.js";

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
}

/** Answers on each socket that have not closed yet, oldest first (HTTP/1.1 pipelining answers in order). */
const open = new WeakMap<Duplex, Exchange[]>();
/** Sockets whose parser already failed: Node may report the same failure again on later data. */
const failed = new WeakSet<Duplex>();

/** Parser failures Node answers with a status of their own; everything else is a malformed request. */
const ANSWERS: Record<string, () => CertvaultError> = {
  HPE_HEADER_OVERFLOW: () => new HeadersTooLargeError(),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: () => new PayloadTooLargeError("chunk extensions are too large"),
  ERR_HTTP_REQUEST_TIMEOUT: () => new RequestTimeoutError(),
  CONNECT: () => new MethodNotAllowedError("CONNECT is not served here"),
};

/** The answers made so far, by ANSWERS key or "" for a malformed request: at most five, never the client's text. */
const made = new Map<string, string>();

/**
 * A complete HTTP/1.1 answer written straight onto the socket (no ServerResponse owns it). Each is made once: the
 * error object's stack alone cost ~19 us per refused request line (CPU profile of TLS 1.3 resumptions whose request
 * line is refused, bench/resumption.ts), and a flood of malformed requests should cost as little as possible.
 */
export function rawErrorAnswer(errorCode: string | undefined): string {
  const key = errorCode !== undefined && Object.hasOwn(ANSWERS, errorCode) ? errorCode : "";
  let answer = made.get(key);
  if (answer === undefined) {
    answer = makeErrorAnswer(key);
    made.set(key, answer);
  }
  return answer;
}

function makeErrorAnswer(key: string): string {
  const e = ANSWERS[key]?.() ?? new MalformedRequestError();
  const answer = httpAnswer(e);
  const body = JSON.stringify(answer.body);
  return [
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ""}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    `Strict-Transport-Security: ${HSTS_HEADER}`,
    "Connection: close",
    "",
    body,
  ].join("\r\n");
}

function track(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  const list = open.get(socket) ?? [];
  open.set(socket, list);
  const entry = { req, res };
  list.push(entry);
  res.once("close", () => {
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) socket.emit("certvault:answered");
  });
}

/** Lets the answers in flight leave, then closes: the newest says `Connection: close` when it is not sent yet. */
function finishThenClose(socket: Duplex, list: Exchange[]): void {
  const newest = list[list.length - 1] as Exchange;
  // Node then ends the socket itself after this answer (ServerResponse._last); pipelined older ones go first.
  if (!newest.res.headersSent) newest.res.shouldKeepAlive = false;
  socket.once("certvault:answered", () => closeAfter(socket));
}

/** Ends the connection after `last` (if any) has been handed to the kernel; a paused socket would never see the peer's end. */
function closeAfter(socket: Duplex, last?: string): void {
  socket.end(last, () => socket.destroy());
}

function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (failed.has(socket)) return;
  failed.add(socket);
  // Nothing more is read from a connection whose byte stream is broken; what was parsed before still gets answered.
  socket.pause();
  const list = open.get(socket) ?? [];
  const newest = list[list.length - 1];
  if (newest && newest.req.complete) return finishThenClose(socket, list);
  // A request cut off inside its body: its handler sees the request aborted and writes nothing.
  if (socket.writable && (!newest || !newest.res.headersSent)) closeAfter(socket, rawErrorAnswer(err.code));
  else socket.destroy();
  if (newest) newest.req.destroy();
}

/** Installs the handlers on the records server (and any other listener that speaks HTTP/1.1 over TLS). */
export function handleClientErrors(server: Server): void {
  server.prependListener("request", track);
  server.on("clientError", onClientError);
  server.on("checkExpectation", refuseExpectation);
  // CONNECT never reaches the app: Node would close the socket without a word (found by fuzzing).
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => socket.end(rawErrorAnswer("CONNECT")));
}

/**
 * An `Expect` other than 100-continue: Node would answer a bare 417 with no body (found by fuzzing); here it is
 * our JSON error, with HSTS, and the request goes no further.
 */
function refuseExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify(errorBody(new ExpectationFailedError()));
  res.writeHead(417, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "strict-transport-security": HSTS_HEADER,
    connection: "close",
  });
  res.end(body);
}
