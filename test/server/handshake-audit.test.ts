/**
 * Handshake refusals leave a trace (issue 16): node:tls clients present a revoked (in the TLS CRL), a foreign-CA, an
 * expired and a serverAuth-only certificate. Each refusal sends no byte of data, leaves a `tls.refused` audit entry
 * (serial, fingerprint, reason, source) and counts in certvault_tls_refusals_total{reason}; five tries of the revoked
 * certificate leave five entries and raise one alert at a local webhook; a flood of 1,000 tries with one certificate
 * leaves PER_KEY_PER_WINDOW (5) entries and, once the minute is over, one entry saying 995 were suppressed. Through a
 * trusted balancer (PROXY protocol) the entry names the client's address.
 */
import { expect } from "chai";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:tls";
import { request } from "node:https";
import { X509Certificate } from "node:crypto";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { AuditRepository } from "../../src/store/audit.js";
import type { AuditEntry } from "../../src/audit/chain.js";
import { proxyV1, startBalancer } from "../helpers/proxy-protocol.js";
import { eventually } from "../helpers/eventually.js";

/** One TLS connection that sends a request at once; resolves with the bytes it got back once closed. */
function attempt(server: TestServer, ca: TestCA, who: TestIdentity, port = server.port): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    const s = connect(
      { host: "127.0.0.1", port, servername: "localhost", ca: ca.rootPem, cert: who.certPem, key: who.keyPem },
      () => s.write("GET /v1/me HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    );
    s.on("data", (c: Buffer) => (bytes += c.length));
    s.on("error", () => undefined);
    s.on("close", () => resolve(bytes));
  });
}

function metrics(server: TestServer, ca: TestCA, ops: TestIdentity): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: server.port,
        path: "/metrics",
        servername: "localhost",
        ca: ca.rootPem,
        cert: ops.certPem,
        key: ops.keyPem,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks).toString()));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const fingerprint = (who: TestIdentity): string =>
  new X509Certificate(who.certPem).fingerprint256.replace(/:/g, "").toLowerCase();

describe("server: handshake refusals are audited, limited and alerted", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let ops: TestIdentity;
  let webhook: Server;
  const alerts: Record<string, unknown>[] = [];
  let offset = 0;
  const refused = (action = "tls.refused"): Promise<AuditEntry[]> =>
    new AuditRepository(server.running.db).search({ action, limit: 500 });
  const byFingerprint = async (who: TestIdentity): Promise<AuditEntry[]> =>
    (await refused()).filter((e) => e.detail?.fingerprint === fingerprint(who));

  before(async function () {
    webhook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        alerts.push(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
        res.end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
    ca = await createTestCA();
    ops = await ca.issueClient("ops");
    server = await startTestServer({
      ca,
      now: () => new Date(Date.now() + offset),
      config: {
        trustedProxies: ["127.0.0.2"],
        adminIdentities: ["ops"],
        alertWebhook: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alerts`,
      },
    });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
    await new Promise((r) => webhook.close(r));
  });

  it("a revoked certificate tried five times: five entries, no data, one alert", async function () {
    const eve = await ca.issueClient("eve");
    await ca.revoke(eve, "keyCompromise");
    // Until the TLS context's CRL has it, the server refuses eve per request (403); try until the handshake itself
    // refuses, counted by the server's metric (incremented as it refuses), then until it has refused five times:
    // five handshake refusals exactly. Counting the audit entries instead, as this once did, raced their commit
    // (written after the refusal, asynchronously) and sometimes made a sixth try, which the flood test below then saw
    // held back; counting connections closed without data raced the revocation watcher's cut of an older connection.
    const revokedRefusals = async (): Promise<number> =>
      Number(
        /^certvault_tls_refusals_total\{reason="revoked"\} (\d+)$/m.exec(await metrics(server, ca, ops))?.[1] ?? 0,
      );
    await eventually(() => attempt(server, ca, eve).then(revokedRefusals), {
      what: "eve refused at the handshake",
      until: (n) => n >= 1,
      timeoutMs: 5000,
    });
    while ((await revokedRefusals()) < 5) expect(await attempt(server, ca, eve)).to.equal(0);
    expect(await revokedRefusals()).to.equal(5);
    const entries = await eventually(() => byFingerprint(eve), {
      what: "five audit entries of eve's refusals",
      until: (e) => e.length >= 5,
      timeoutMs: 5000,
    });
    expect(entries).to.have.length(5);
    for (const e of entries) {
      expect(e).to.include({ actor: "-", serial: eve.serial, source: "127.0.0.1", status: 0 });
      expect(e.detail).to.include({ reason: "revoked", code: "CERT_REVOKED" });
    }
    const posted = await eventually(() => alerts.filter((a) => a.rule === "revoked_certificate"), {
      what: "the revoked_certificate alert posted",
      until: (a) => a.length > 0,
      timeoutMs: 5000,
    });
    expect(posted).to.have.length(1);
    expect(posted[0]).to.include({
      serial: eve.serial,
      fingerprint: fingerprint(eve),
      source: "127.0.0.1",
      severity: "high",
    });
  });

  it("a foreign CA's, an expired and a serverAuth-only certificate: an entry each with its reason", async function () {
    const foreign = await ca.foreign();
    const cases: [TestIdentity, string][] = [
      [await foreign.issueClient("alice"), "untrusted"],
      [
        await ca.issueClient("old", {
          notBefore: new Date(Date.now() - 10 * 86_400_000),
          notAfter: new Date(Date.now() - 86_400_000),
        }),
        "expired",
      ],
      [await ca.issueClient("srv", { eku: "serverAuth" }), "wrong_usage"],
    ];
    for (const [who, reason] of cases) {
      expect(await attempt(server, ca, who)).to.equal(0);
      const [entry] = await eventually(() => byFingerprint(who), {
        what: "the refusal audited with its reason",
        until: (e) => e.length > 0,
        timeoutMs: 5000,
      });
      expect(entry?.detail?.reason, reason).to.equal(reason);
      expect(entry?.source).to.equal("127.0.0.1");
    }
    await foreign.cleanup();
  });

  it("a refusal relayed by a trusted balancer is audited with the client's address from its PROXY header", async function () {
    const foreign = await ca.foreign();
    const who = await foreign.issueClient("alice");
    const balancer = await startBalancer(server.port, proxyV1("203.0.113.99"));
    expect(await attempt(server, ca, who, balancer.port)).to.equal(0);
    const [entry] = await eventually(() => byFingerprint(who), {
      what: "the refusal audited with the balancer's client address",
      until: (e) => e.length > 0,
      timeoutMs: 5000,
    });
    expect(entry?.source).to.equal("203.0.113.99");
    await balancer.close();
    await foreign.cleanup();
  });

  it("a client without a certificate gets no data, also when it resumes the session it was given", async function () {
    const tryOnce = (
      maxVersion: "TLSv1.2" | "TLSv1.3",
      session?: Buffer,
    ): Promise<{ bytes: number; session?: Buffer; reused: boolean }> =>
      new Promise((resolve) => {
        let bytes = 0;
        let ticket: Buffer | undefined;
        const s = connect(
          {
            host: "127.0.0.1",
            port: server.port,
            servername: "localhost",
            ca: ca.rootPem,
            maxVersion,
            ...(session ? { session } : {}),
          },
          () => s.write("GET /v1/me HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        s.on("session", (t: Buffer) => (ticket = t));
        s.on("data", (c: Buffer) => (bytes += c.length));
        s.on("error", () => undefined);
        s.on("close", () => resolve({ bytes, ...(ticket ? { session: ticket } : {}), reused: s.isSessionReused() }));
      });
    // If the refused client holds a session, resuming it gets nothing either. (Node would call a resumed TLS 1.3 session
    // without a certificate "authorized", hence the gate's own check; here no resumption happened on either version,
    // so that check is defence in depth, not exercised.)
    for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
      const first = await tryOnce(version);
      expect(first.bytes, version).to.equal(0);
      if (first.session) expect((await tryOnce(version, first.session)).bytes, `${version} resumed`).to.equal(0);
    }
    const text = await metrics(server, ca, ops);
    expect(Number(/^certvault_tls_refusals_total\{reason="no_certificate"\} (\d+)$/m.exec(text)?.[1])).to.be.at.least(
      1,
    );
    expect(await refused()).to.satisfy((entries: AuditEntry[]) =>
      entries.every((e) => e.detail?.reason !== "no_certificate"),
    );
  });

  it("a flood of 1,000 tries leaves 5 entries and a count of the 995 held back; the metric counts every one", async function () {
    const foreign = await ca.foreign();
    const mallory = await foreign.issueClient("mallory");
    offset += 61_000; // a fresh minute for the flood
    let sent = 0;
    const worker = async (): Promise<void> => {
      while (sent < 1000) {
        sent++;
        expect(await attempt(server, ca, mallory)).to.equal(0);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    offset += 61_000; // the minute is over: the next refusal writes the summary
    expect(await attempt(server, ca, mallory)).to.equal(0);
    const summary = await eventually(() => refused("tls.refused.suppressed"), {
      what: "the suppressed-refusals summary entry",
      until: (e) => e.length > 0,
      timeoutMs: 5000,
    });
    expect(summary).to.have.length(1);
    expect(summary[0]?.detail).to.include({ suppressed: 995, keys: 1 });
    expect(
      await eventually(() => byFingerprint(mallory), {
        what: "six audit entries of mallory's refusals",
        until: (e) => e.length >= 6,
        timeoutMs: 5000,
      }),
    ).to.have.length(6);
    const text = await metrics(server, ca, ops);
    const value = (name: string): number =>
      Number(new RegExp(`^${name.replace(/[{}]/g, "\\$&")} (\\d+)$`, "m").exec(text)?.[1] ?? -1);
    expect(value('certvault_tls_refusals_total{reason="untrusted"}')).to.equal(2 + 1001);
    expect(value('certvault_tls_refusals_total{reason="revoked"}')).to.be.at.least(5);
    expect(value('certvault_tls_refusals_total{reason="expired"}')).to.equal(1);
    expect(value('certvault_tls_refusals_total{reason="wrong_usage"}')).to.equal(1);
    expect(value("certvault_tls_refusal_audit_suppressed_total")).to.equal(995);
    await foreign.cleanup();
  });
});
