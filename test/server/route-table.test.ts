/**
 * The route table's matching (server/route-table.ts), judged over real mutual TLS with raw request paths: one
 * spelling per endpoint, 405 with Allow for a method the path does not serve (before the dispatcher, every unmatched
 * method answered 404: @koa/router's 405 step sat before the app's 404, which rejected first), and a table that
 * would shadow a literal path is refused when it is built.
 */
import { expect } from "chai";
import { request, Agent } from "node:https";
import { connect } from "node:tls";
import type { IncomingHttpHeaders } from "node:http";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { RouteTable } from "../../src/server/route-table.js";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describe("server: the route table", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: Agent;
  let ops: Agent;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, config: { adminIdentities: ["ops"] } });
    const a = await ca.issueClient("alice");
    const o = await ca.issueClient("ops");
    alice = new Agent({ keepAlive: true, ca: ca.rootPem, cert: a.certPem, key: a.keyPem });
    ops = new Agent({ keepAlive: true, ca: ca.rootPem, cert: o.certPem, key: o.keyPem });
  });
  after(async function () {
    alice.destroy();
    ops.destroy();
    await server.stop();
    await ca.cleanup();
  });

  /** The path goes on the wire exactly as written (no normalisation by the client). */
  function send(agent: Agent, method: string, path: string, body?: Buffer): Promise<Answer> {
    const url = new URL(server.url);
    return new Promise((resolve, reject) => {
      const req = request({ agent, host: url.hostname, port: url.port, method, path }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  function code(a: Answer): string | undefined {
    return (JSON.parse(a.body) as { error?: { code?: string } }).error?.code;
  }

  it("a method the path does not serve: 405 method_not_allowed with Allow; no route step runs, the refusal is audited", async function () {
    const id = await ca.issueClient("wrongmethod");
    const agent = new Agent({ keepAlive: true, ca: ca.rootPem, cert: id.certPem, key: id.keyPem });
    const cases = [
      ["PATCH", "/v1/me", "GET, HEAD"],
      ["POST", "/v1/me", "GET, HEAD"],
      ["OPTIONS", "/v1/me", "GET, HEAD"],
      ["PUT", "/v1/records", "POST, GET, HEAD"],
      ["PATCH", `/v1/records/${"a".repeat(32)}`, "GET, HEAD, PUT, DELETE"],
    ] as const;
    try {
      for (const [method, path, allow] of cases) {
        const a = await send(agent, method, path);
        expect(a.status, `${method} ${path}`).to.equal(405);
        expect(code(a)).to.equal("method_not_allowed");
        expect(a.headers.allow, `${method} ${path}`).to.equal(allow);
      }
    } finally {
      agent.destroy();
    }
    // One entry per request, each the plain "request" of no route (no write-ahead attempt, no route's action).
    const rows = (await ca
      .db("audit_entries")
      .where({ actor: "wrongmethod" })
      .select("action", "status", "detail")) as {
      action: string;
      status: number;
      detail: string;
    }[];
    expect(rows.map((r) => [r.action, r.status])).to.deep.equal(cases.map(() => ["request", 405]));
    expect(rows.map((r) => JSON.parse(r.detail) as { method: string; path: string })).to.deep.equal(
      cases.map(([method, path]) => ({ method, path, code: "method_not_allowed" })),
    );
  });

  it("a request target without a path (GET foo://bar) is 404 and audited, not a 500 without an entry", async function () {
    const id = await ca.issueClient("nopath");
    const url = new URL(server.url);
    const head = await new Promise<string>((resolve, reject) => {
      const s = connect(
        { host: url.hostname, port: Number(url.port), ca: ca.rootPem, cert: id.certPem, key: id.keyPem },
        () => s.write(`GET foo://bar HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`),
      );
      let t = "";
      s.setEncoding("latin1");
      s.on("data", (d: string) => (t += d));
      s.on("close", () => resolve(t.split("\r\n")[0] ?? ""));
      s.on("error", reject);
    });
    expect(head).to.equal("HTTP/1.1 404 Not Found");
    const rows = (await ca.db("audit_entries").where({ actor: "nopath" }).select("action", "status")) as unknown[];
    expect(rows).to.deep.equal([{ action: "request", status: 404 }]);
  });

  it("a non-admin is refused on every console path and method, and on /metrics", async function () {
    for (const [method, path] of [
      ["POST", "/admin/certificates/revoke"],
      ["GET", "/admin/certificates/revoke"],
      ["OPTIONS", "/admin/"],
      ["HEAD", "/admin/certificates"],
      ["DELETE", "/admin/console.css"],
      ["GET", "/admin"],
      ["GET", "/metrics"],
    ] as const) {
      const a = await send(alice, method, path);
      expect(a.status, `${method} ${path}`).to.equal(403);
      if (method !== "HEAD") expect(code(a), `${method} ${path}`).to.equal("admin_required");
    }
    // The path's methods are no secret (GET /metrics answers 403 admin_required): a wrong one is 405 before the gate.
    const post = await send(alice, "POST", "/metrics");
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal("GET, HEAD");
  });

  it("one spelling per endpoint: encoded, doubled, cased or slashed variants are 404", async function () {
    for (const path of ["/v1/m%65", "/v1/me/", "/v1/ME", "//v1/me", "/v1//me", "/v1/records/", "/V1/records"]) {
      const a = await send(alice, "GET", path);
      expect(a.status, path).to.equal(404);
      expect(code(a), path).to.equal("not_found");
      expect(a.headers.allow, path).to.equal(undefined);
    }
    expect((await send(alice, "GET", "/v1/me")).status).to.equal(200);
  });

  it("a GET route answers HEAD, without a body", async function () {
    const a = await send(alice, "HEAD", "/v1/me");
    expect(a.status).to.equal(200);
    expect(a.body).to.equal("");
    expect(a.headers["content-type"]).to.match(/^application\/json/);
  });

  it("a parameter is one non-empty segment, percent-decoded; a record id spelled with escapes is the same record", async function () {
    const put = await send(alice, "POST", "/v1/records", Buffer.from("route table"));
    expect(put.status).to.equal(201);
    const id = (JSON.parse(put.body) as { id: string }).id;
    const escaped = `/v1/records/${[...id].map((ch) => `%${ch.charCodeAt(0).toString(16)}`).join("")}`;
    const plain = await send(alice, "GET", `/v1/records/${id}`);
    const a = await send(alice, "GET", escaped);
    expect(plain.status).to.equal(200);
    expect(a.status).to.equal(200);
    expect(a.body).to.equal(plain.body);
    expect(a.headers["content-type"]).to.equal("application/pkcs7-mime");
    // A slash inside the parameter stays inside it (escaped, it is not a separator) and is no record id.
    const b = await send(alice, "GET", `/v1/records/${id.slice(0, 16)}%2F${id.slice(16)}`);
    expect(b.status).to.equal(400);
    expect(code(b)).to.equal("invalid_id");
  });

  it("routes run in table order: a console page is not taken by the console's catch-all, which answers the rest", async function () {
    expect((await send(ops, "GET", "/admin/certificates")).status).to.equal(200);
    expect((await send(ops, "GET", "/admin/nothing/here")).status).to.equal(404);
    expect((await send(ops, "GET", "/admin/certificates/")).status).to.equal(404);
    expect((await send(alice, "GET", "/admin/certificates/")).status).to.equal(403);
    expect((await send(alice, "PATCH", "/admin//x/")).status).to.equal(403);
    expect((await send(ops, "DELETE", "/admin/certificates")).status).to.equal(404);
    expect((await send(alice, "GET", "/admin/certificates")).status).to.equal(403);
  });

  it("a table whose earlier pattern would take a later literal path is refused when built", function () {
    const t = new RouteTable();
    t.add("GET", "/v1/things/:id", []);
    expect(() => t.add("GET", "/v1/things/mine", [])).to.throw(/would be taken by the earlier \/v1\/things\/:id/);
    t.add("POST", "/v1/things/mine", []);
    const all = new RouteTable();
    all.add("ALL", "/admin/*rest", []);
    expect(() => all.add("GET", "/admin/page", [])).to.throw(/would be taken/);
    const any = new RouteTable();
    any.add("GET", "/x/:id", []);
    expect(() => any.add("ALL", "/x/y", [])).to.throw(/would be taken by the earlier \/x\/:id/);
  });

  it("a path segment that is not a plain literal or a parameter is refused when built", function () {
    const t = new RouteTable();
    for (const bad of ["v1/me", "/v1/(me)?", "/v1/*rest/more", "/v1/me{x}", "/f/:id.json", "/g/:", "/h/:a:b", "/i/*"])
      expect(() => t.add("GET", bad, []), bad).to.throw();
  });
});
