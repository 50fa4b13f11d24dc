/**
 * Bytes that are not HTTP after a complete request on a keep-alive connection (issue 19, traps.md "Found in the
 * second look"). Node's default `clientError` handler answered 400 and destroyed the socket while the first request
 * was still being handled: its write happened, its 201/204 never left. Spoken over a raw TLS socket (node:tls, a
 * client certificate from the kit), because curl and the SDK never send such bytes.
 */
import { expect } from "chai";
import { connect } from "node:tls";
import { randomBytes } from "node:crypto";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { eventually } from "../helpers/eventually.js";

/** Everything the server sent until it closed the connection (which it must do within `ms`). */
function exchange(server: TestServer, ca: TestCA, who: TestIdentity, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port: server.port,
      servername: "localhost",
      ca: ca.rootPem,
      cert: who.certPem,
      key: who.keyPem,
    });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open; it sent: ${Buffer.concat(chunks).toString("latin1")}`));
    }, 20_000);
    socket.once("secureConnect", () => socket.write(bytes));
    socket.on("data", (b: Buffer) => chunks.push(b));
    socket.on("error", () => undefined); // a reset after the answer is fine; what arrived is judged below
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

/** Status codes of every HTTP answer in the stream, in order. */
function statuses(stream: string): number[] {
  return [...stream.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
}

/** The JSON body of the last answer in the stream. */
function lastJson(stream: string): { error?: { code: string; message: string } } & Record<string, unknown> {
  const body = stream.slice(stream.lastIndexOf("\r\n\r\n") + 4);
  return JSON.parse(body) as { error?: { code: string; message: string } } & Record<string, unknown>;
}

function request(method: string, path: string, body: Buffer, contentLength = body.length, extra = ""): Buffer {
  const head = `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${contentLength}\r\n${extra}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

/** Not a request line: Node's parser fails on it (HPE_INVALID_METHOD). */
const GARBAGE = Buffer.from("\x16\x03garbage that is not HTTP\r\n\r\n", "latin1");

describe("server: bytes that are not HTTP after a complete request (clientError)", function () {
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  const recordIds = async (): Promise<string[]> =>
    ((await ca.db("records").select("id")) as { id: string }[]).map((r) => r.id);

  const auditCount = async (): Promise<number> =>
    Number(((await ca.db("audit_entries").max({ n: "seq" }))[0] as { n: number | null }).n ?? 0);

  /** The answers the audit trail records after entry `since` (the raw 400 may leave before the entry: awaited). */
  async function auditedStatuses(since: number): Promise<number[]> {
    const answered = async (): Promise<number[]> =>
      (
        (await ca
          .db("audit_entries")
          .where("seq", ">", since)
          .whereNot("status", 0)
          .orderBy("seq")
          .select("status")) as { status: number }[]
      ).map((r) => Number(r.status));
    return eventually(answered, { what: "an answered request in the audit trail", until: (s) => s.length > 0 });
  }

  async function postOk(body: Buffer): Promise<string> {
    const out = await exchange(
      server,
      ca,
      alice,
      request("POST", "/v1/records", body, body.length, "Connection: close\r\n"),
    );
    expect(statuses(out), out).to.deep.equal([201]);
    return lastJson(out).id as string;
  }

  for (const [label, size] of [
    ["a 256 KiB body", 256 * 1024],
    ["a 5-byte body (the variant that logged a 500)", 5],
  ] as const) {
    it(`POST with ${label} followed by garbage: the client gets the 201 of the record that was written`, async function () {
      const before = await recordIds();
      const audited = await auditCount();
      const out = await exchange(
        server,
        ca,
        alice,
        Buffer.concat([request("POST", "/v1/records", randomBytes(size)), GARBAGE]),
      );
      expect(statuses(out), out).to.deep.equal([201]);
      expect(out).to.match(/^connection: close\r$/im);
      const id = lastJson(out).id as string;
      expect(id).to.match(/^[0-9a-f]{32}$/);
      expect(await recordIds()).to.have.members([...before, id]);
      expect(await auditedStatuses(audited)).to.deep.equal([201]);
    });
  }

  it("DELETE followed by garbage: the client gets the 204 and the record is gone", async function () {
    const id = await postOk(randomBytes(100));
    const out = await exchange(
      server,
      ca,
      alice,
      Buffer.concat([request("DELETE", `/v1/records/${id}`, Buffer.alloc(0)), GARBAGE]),
    );
    expect(statuses(out), out).to.deep.equal([204]);
    expect(await recordIds()).to.not.include(id);
  });

  it("DELETE with a body longer than its Content-Length: 204, the record is gone", async function () {
    const id = await postOk(randomBytes(100));
    const out = await exchange(
      server,
      ca,
      alice,
      request("DELETE", `/v1/records/${id}`, Buffer.from("abc and then far more than three bytes\r\n\r\n"), 3),
    );
    expect(statuses(out), out).to.deep.equal([204]);
    expect(await recordIds()).to.not.include(id);
  });

  it("garbage with no request in flight: a JSON 400 malformed_request, no stack, and the connection is closed", async function () {
    const out = await exchange(server, ca, alice, GARBAGE);
    expect(statuses(out), out).to.deep.equal([400]);
    expect(out).to.match(/^content-type: application\/json/im);
    expect(out).to.match(/^strict-transport-security: max-age=31536000/im);
    expect(lastJson(out).error?.code).to.equal("malformed_request");
    expect(out).to.not.match(/ at |HPE_|\.ts:|\.js:/);
  });

  it("a chunked POST whose framing breaks inside the body: a JSON 400, nothing written, no 500 inside", async function () {
    const before = await recordIds();
    const audited = await auditCount();
    const head =
      "POST /v1/records HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n\r\n";
    const out = await exchange(server, ca, alice, Buffer.from(head, "latin1"));
    expect(statuses(out), out).to.deep.equal([400]);
    expect(lastJson(out).error?.code).to.equal("malformed_request");
    expect(await recordIds()).to.have.members(before);
    expect(await auditedStatuses(audited)).to.deep.equal([400]);
  });

  it("headers over Node's 16 KiB limit with nothing in flight: 431 headers_too_large", async function () {
    const out = await exchange(
      server,
      ca,
      alice,
      Buffer.from(`GET /v1/me HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, "latin1"),
    );
    expect(statuses(out), out).to.deep.equal([431]);
    expect(lastJson(out).error?.code).to.equal("headers_too_large");
  });

  it("a record written by a request after a refused one on another connection: the server keeps serving", async function () {
    await exchange(server, ca, alice, GARBAGE);
    const id = await postOk(randomBytes(10));
    expect(await recordIds()).to.include(id);
  });
});
