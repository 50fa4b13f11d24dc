/**
 * Revocation that bites: `certvault ca revoke` run as a separate process takes effect on a running server within
 * one second, for new requests and for a connection that is already open and kept alive.
 */
import { expect } from "chai";
import { Agent, request } from "node:https";
import { connect } from "node:tls";
import type { TLSSocket } from "node:tls";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { runCli } from "../helpers/cli.js";
import { eventually } from "../helpers/eventually.js";

function get(agent: Agent, url: string): Promise<{ status: number; body: string; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      // Captured now: once the body ends, a kept-alive socket goes back to the agent and res.socket is null.
      const socket = res.socket as TLSSocket;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), socket }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("server: revocation from another process", function () {
  let ca: TestCA;
  let server: TestServer;
  let eve: TestIdentity;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, config: { revocationPollMs: 250 } });
    eve = await ca.issueClient("eve");
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("refuses the next request within 1 s and closes the kept-alive connection", async function () {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.rootPem, cert: eve.certPem, key: eve.keyPem });
    try {
      const first = await get(agent, `${server.url}/v1/me`);
      expect(first.status).to.equal(200);
      const socket = first.socket;
      let closedAt = 0;
      socket.once("close", () => (closedAt = Date.now()));

      const revoke = await runCli(["ca", "revoke", "--serial", eve.serial, "--reason", "keyCompromise", ...ca.cliArgs]);
      expect(revoke.code, revoke.stderr).to.equal(0);
      const revokedAt = Date.now();

      // Poll until the open connection is closed by the server (at most 1 s after the CLI returned).
      await eventually(() => closedAt > 0, { what: "the kept-alive connection closed", timeoutMs: 1500 });
      expect(closedAt, "kept-alive connection still open").to.be.greaterThan(0);
      expect(closedAt - revokedAt).to.be.at.most(1000);

      // A new connection is refused: at the handshake (CRL) or with 403.
      const fresh = new Agent({ keepAlive: false, ca: ca.rootPem, cert: eve.certPem, key: eve.keyPem });
      try {
        const r = await get(fresh, `${server.url}/v1/me`);
        expect(r.status).to.equal(403);
        expect(JSON.parse(r.body).error.code).to.equal("certificate_revoked");
      } catch (err) {
        expect((err as Error).message).to.match(/revoked|socket hang up|ECONNRESET|alert/i);
      } finally {
        fresh.destroy();
      }
    } finally {
      agent.destroy();
    }
  });

  // Nothing reads a connection's certificate at the handshake (it costs ~150-350 us: server/tls/peer-certificate.ts); the
  // serial of a connection that has sent no request is read when a revocation needs it.
  it("closes a connection that has sent no request yet when its certificate is revoked", async function () {
    const mallory = await ca.issueClient("mallory");
    const bystander = await ca.issueClient("bystander");
    const u = new URL(server.url);
    const open = (who: TestIdentity): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const s = connect({
          host: u.hostname,
          port: Number(u.port),
          ca: ca.rootPem,
          cert: who.certPem,
          key: who.keyPem,
        });
        s.once("secureConnect", () => resolve(s));
        s.once("error", reject);
      });
    const quiet = await open(mallory);
    const other = await open(bystander);
    try {
      let ended = false;
      quiet.on("data", () => undefined).once("end", () => (ended = true));
      let otherEnded = false;
      other.on("data", () => undefined).once("end", () => (otherEnded = true));
      await ca.revoke(mallory, "keyCompromise");
      await server.syncRegistry();
      await eventually(() => ended, {
        what: "the server ended the revoked certificate's idle connection",
        timeoutMs: 3000,
      });
      // The other certificate's idle connection, read at the same revocation, stays open.
      expect(otherEnded, "the bystander's connection was closed too").to.equal(false);
      expect(other.destroyed).to.equal(false);
    } finally {
      quiet.destroy();
      other.destroy();
    }
  });

  // A resumed handshake takes its verification result from the ticket and checks no CRL: such a connection's serial
  // is read at its handshake and a revoked one ended at once (the attack review found it left open ~30 s, until
  // Node's headers timeout, when nothing read it there).
  it("ends at once a resumed session of a certificate revoked since", async function () {
    const mallory = await ca.issueClient("mallory-resumed");
    const u = new URL(server.url);
    const open = (session?: Buffer): Promise<{ s: TLSSocket; session: Promise<Buffer> }> =>
      new Promise((resolve, reject) => {
        let gotSession: (b: Buffer) => void = () => undefined;
        const sessionP = new Promise<Buffer>((r) => (gotSession = r));
        const s = connect({
          host: u.hostname,
          port: Number(u.port),
          ca: ca.rootPem,
          cert: mallory.certPem,
          key: mallory.keyPem,
          ...(session ? { session } : {}),
        });
        s.on("session", (b: Buffer) => gotSession(b));
        s.on("data", () => undefined);
        s.once("secureConnect", () => resolve({ s, session: sessionP }));
        s.once("error", reject);
      });
    const first = await open();
    const session = await first.session;
    first.s.destroy();
    await ca.revoke(mallory, "keyCompromise");
    await server.syncRegistry();
    const again = await open(session);
    try {
      expect(again.s.isSessionReused(), "the session did not resume, so this test proves nothing").to.equal(true);
      let closed = false;
      again.s.once("close", () => (closed = true));
      await eventually(() => closed, { what: "the server ended the resumed revoked connection", timeoutMs: 2000 });
    } finally {
      again.s.destroy();
    }
  });
});
