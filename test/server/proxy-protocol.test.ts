/**
 * PROXY protocol behind a balancer (issue 16): a small TCP proxy (test/helpers/proxy-protocol.ts) connects from
 * 127.0.0.2, the one trusted balancer, and prepends a v1 or v2 header naming a fake client. Requests through it are
 * audited with that client's address and rate-limited per that address (two fake clients, two budgets); a header
 * from an untrusted peer, a trusted peer's connection without one, malformed headers and a header that never
 * finishes are refused (closed with no byte sent, counted by reason) and the server keeps serving.
 */
import { expect } from "chai";
import { request } from "node:https";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { AuditRepository } from "../../src/store/audit.js";
import { resolveServer } from "../../src/config/index.js";
import { UsageError } from "../../src/errors/index.js";
import { V2_SIGNATURE } from "../../src/server/tls/proxy-header.js";
import { proxyV1, proxyV2, rawExchange, startBalancer } from "../helpers/proxy-protocol.js";
import type { TestBalancer } from "../helpers/proxy-protocol.js";

interface Answer {
  status: number;
  body: string;
}

function get(port: number, ca: TestCA, who: TestIdentity, path = "/v1/me"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        servername: "localhost",
        ca: ca.rootPem,
        cert: who.certPem,
        key: who.keyPem,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const TRUSTED = "127.0.0.2";
const STRANGER = "127.0.0.3";

describe("server: PROXY protocol from trusted balancers", function () {
  let ca: TestCA;
  let limited: TestServer;
  let strict: TestServer;
  let alice: TestIdentity;
  let ops: TestIdentity;
  const balancers: TestBalancer[] = [];
  const balancer = async (server: TestServer, header: Buffer | undefined, from = TRUSTED): Promise<number> => {
    const b = await startBalancer(server.port, header, from);
    balancers.push(b);
    return b.port;
  };

  before(async function () {
    ca = await createTestCA();
    alice = await ca.issueClient("alice");
    ops = await ca.issueClient("ops");
    limited = await startTestServer({
      ca,
      config: {
        trustedProxies: [`${TRUSTED}/32`],
        rateLimits: { identity: { points: 1000, seconds: 60 }, source: { points: 3, seconds: 60 } },
      },
    });
    strict = await startTestServer({
      ca,
      config: { trustedProxies: [TRUSTED], proxyHeaderTimeoutMs: 300, adminIdentities: ["ops"] },
    });
  });
  after(async function () {
    for (const b of balancers) await b.close();
    await limited.stop();
    await strict.stop();
    await ca.cleanup();
  });

  it("audits a request with the address a v1 or v2 header names (IPv4 and IPv6)", async function () {
    const cases: [Buffer, string][] = [
      [proxyV1("203.0.113.7"), "203.0.113.7"],
      [proxyV2("198.51.100.20"), "198.51.100.20"],
      [proxyV1("2001:DB8:0:0::7"), "2001:db8::7"],
      [proxyV2("2001:db8::20", 40001, Buffer.from([0x05, 0x00, 0x03, 0x61, 0x62, 0x63])), "2001:db8::20"],
    ];
    for (const [header, address] of cases) {
      const r = await get(await balancer(strict, header), ca, alice);
      expect(r.status, r.body).to.equal(200);
      const entries = await new AuditRepository(strict.running.db).search({ actor: "alice", limit: 500 });
      expect(entries.map((e) => e.source)).to.include(address);
    }
  });

  it("limits each client behind the balancer by its own address", async function () {
    const a = await balancer(limited, proxyV1("203.0.113.50"));
    const b = await balancer(limited, proxyV2("203.0.113.51"));
    for (let i = 0; i < 3; i++) expect((await get(a, ca, alice)).status).to.equal(200);
    expect((await get(a, ca, alice)).status, "the 4th request of 203.0.113.50").to.equal(429);
    expect((await get(b, ca, alice)).status, "203.0.113.51 has a budget of its own").to.equal(200);
    const entries = (await new AuditRepository(limited.running.db).all()).filter((e) => e.action !== "ca.issue");
    const sources = entries.map((e) => e.source);
    // Three answered as alice, the refused fourth before authentication (actor "-"), status 429.
    expect(entries.filter((e) => e.source === "203.0.113.50").map((e) => e.status)).to.deep.equal([200, 200, 200, 429]);
    expect(sources).to.not.include(TRUSTED);
  });

  it("serves a direct client (no header, not a balancer) under its own address", async function () {
    const r = await get(strict.port, ca, alice);
    expect(r.status).to.equal(200);
    const entries = await new AuditRepository(strict.running.db).search({ actor: "alice", limit: 500 });
    expect(entries.map((e) => e.source)).to.include("127.0.0.1");
  });

  it("refuses a --trusted-proxies entry that is not an address or CIDR", function () {
    for (const bad of ["10.0.0.0/33", "2001:db8::/129", "balancer.internal", "10.0.0.1/8/1", "10.0.0.0/08"]) {
      expect(() => resolveServer({ "trusted-proxies": bad }, {}), bad).to.throw(UsageError);
    }
    expect(resolveServer({}, { CERTVAULT_TRUSTED_PROXIES: "10.0.0.0/24, 2001:db8::/64" }).trustedProxies).to.deep.equal(
      ["10.0.0.0/24", "2001:db8::/64"],
    );
  });

  it("refuses a PROXY header from a peer that is not a trusted balancer", async function () {
    for (const header of [proxyV1("203.0.113.9"), proxyV2("203.0.113.9")]) {
      expect(await rawExchange(strict.port, header, STRANGER)).to.have.length(0);
      let failed: Error | undefined;
      await get(await balancer(strict, header, STRANGER), ca, alice).catch((err: Error) => (failed = err));
      expect(failed?.message).to.match(/socket hang up|ECONNRESET|disconnected/);
    }
  });

  it("refuses a trusted balancer's connection that carries no header", async function () {
    let failed: Error | undefined;
    await get(await balancer(strict, undefined), ca, alice).catch((err: Error) => (failed = err));
    expect(failed?.message).to.match(/socket hang up|ECONNRESET|disconnected/);
  });

  it("refuses malformed headers without a byte sent and keeps serving", async function () {
    const v2 = (versionCommand: number, family: number, body: Buffer): Buffer =>
      Buffer.concat([V2_SIGNATURE, Buffer.from([versionCommand, family, body.length >> 8, body.length & 0xff]), body]);
    const bad = [
      Buffer.from("PROXY TCP4 999.0.113.7 127.0.0.1 40000 8443\r\n"),
      Buffer.from("PROXY TCP4 203.0.113.7 127.0.0.1 70000 8443\r\n"),
      Buffer.from("PROXY TCP6 203.0.113.7 127.0.0.1 40000 8443\r\n"),
      Buffer.from(`PROXY TCP4 ${"1".repeat(120)}`),
      Buffer.from("PROXY TCP4 203.0.113.7\n127.0.0.1 40000 8443\r\n"),
      v2(0x31, 0x11, Buffer.alloc(12)), // version 3
      v2(0x22, 0x11, Buffer.alloc(12)), // command 2
      v2(0x21, 0x11, Buffer.alloc(8)), // IPv4 body too short
      v2(0x21, 0x31, Buffer.alloc(216)), // AF_UNIX
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]), // 65535-byte body announced
    ];
    for (const bytes of bad)
      expect(await rawExchange(strict.port, bytes, TRUSTED), bytes.toString("latin1")).to.have.length(0);
    // Cut off half-way: the peer's end is the end of it.
    expect(await rawExchange(strict.port, proxyV2("203.0.113.7").subarray(0, 20), TRUSTED, true)).to.have.length(0);
    expect((await get(await balancer(strict, proxyV1("203.0.113.8")), ca, alice)).status).to.equal(200);
  });

  it("closes a header that never finishes, and counts every refusal by reason", async function () {
    const started = Date.now();
    expect(await rawExchange(strict.port, Buffer.from("PROXY TCP4 "), TRUSTED)).to.have.length(0);
    expect(Date.now() - started).to.be.below(5000);
    const metrics = await get(strict.port, ca, ops, "/metrics");
    const count = (reason: string): number =>
      Number(
        new RegExp(`^certvault_proxy_protocol_refusals_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(
          metrics.body,
        )?.[1] ?? 0,
      );
    expect(count("untrusted_header")).to.equal(4);
    expect(count("missing_header")).to.equal(1);
    expect(count("malformed")).to.equal(11);
    expect(count("timeout")).to.equal(1);
  });
});
