/**
 * TLS session resumption (tickets) with client certificates (issue 17). A resumed handshake verifies no certificate:
 * OpenSSL takes the client certificate and the verification result from the ticket, and the TLS-level CRL is never
 * consulted. So a client that saved a session while its certificate was good could try to resume it after the
 * certificate was revoked. Here node:tls clients (TLS 1.2 and 1.3) save a session, the CA revokes the certificate,
 * and the resumed connection must get no data: the connection closed, or 403 certificate_revoked, never a 200. First,
 * that resumption works at all for an unrevoked certificate, and that it is admitted as the same identity.
 */
import { expect } from "chai";
import { connect } from "node:tls";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";

type Version = "TLSv1.2" | "TLSv1.3";

interface Attempt {
  /** The HTTP status, when any answer came back. */
  status?: number;
  body: string;
  reused: boolean;
  /** The last session the server handed out on this connection (a ticket), to resume with. */
  session?: Buffer;
}

/** One connection, one `GET /v1/me` with `Connection: close`; resolves once the server closed it. */
function getMe(
  server: TestServer,
  ca: TestCA,
  who: TestIdentity,
  version: Version,
  session?: Buffer,
): Promise<Attempt> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ticket: Buffer | undefined;
    let reused = false;
    const s = connect(
      {
        host: "127.0.0.1",
        port: server.port,
        servername: "localhost",
        ca: ca.rootPem,
        cert: who.certPem,
        key: who.keyPem,
        minVersion: version,
        maxVersion: version,
        ...(session ? { session } : {}),
      },
      () => {
        reused = s.isSessionReused();
        s.write("GET /v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
      },
    );
    s.on("session", (t: Buffer) => (ticket = t));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => undefined);
    s.on("close", () => {
      const text = Buffer.concat(chunks).toString();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({
        ...(status ? { status: Number(status) } : {}),
        body: text.slice(text.indexOf("\r\n\r\n") + 4),
        reused,
        ...(ticket ? { session: ticket } : {}),
      });
    });
  });
}

describe("server: TLS session resumption with client certificates", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it(`${version}: a saved session resumes, and the resumed connection is the same identity`, async function () {
      const alice = await ca.issueClient("alice");
      const first = await getMe(server, ca, alice, version);
      expect(first.status, first.body).to.equal(200);
      expect(first.reused).to.equal(false);
      expect(first.session, "no session ticket was handed out").to.be.instanceOf(Buffer);
      const again = await getMe(server, ca, alice, version, first.session);
      expect(again.reused, "the server did not resume the session").to.equal(true);
      expect(again.status, again.body).to.equal(200);
      expect(JSON.parse(again.body).identity).to.equal("alice");
    });
  }

  it("a session saved before the certificate was revoked resumes to no data (TLS 1.2 and 1.3)", async function () {
    const eve = await ca.issueClient("eve");
    const saved: Partial<Record<Version, Buffer>> = {};
    for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
      const first = await getMe(server, ca, eve, version);
      expect(first.status, `${version}: ${first.body}`).to.equal(200);
      saved[version] = first.session;
    }
    await ca.revoke(eve, "keyCompromise");
    // Until the server has seen the revocation (its poll): a new full handshake of eve's gets nothing any more.
    const deadline = Date.now() + 10_000;
    let fresh = await getMe(server, ca, eve, "TLSv1.3");
    while (fresh.status === 200 && Date.now() < deadline) fresh = await getMe(server, ca, eve, "TLSv1.3");
    expect(fresh.status, "the server never saw the revocation").to.not.equal(200);

    for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
      const resumed = await getMe(server, ca, eve, version, saved[version]);
      // The ticket still decrypts (the key did not rotate): the handshake resumes, and what follows must refuse.
      expect(resumed.reused, `${version}: the session was not resumed, so this test proves nothing`).to.equal(true);
      if (resumed.status === undefined) expect(resumed.body, version).to.equal("");
      else {
        expect(resumed.status, `${version}: ${resumed.body}`).to.equal(403);
        expect(JSON.parse(resumed.body).error.code).to.equal("certificate_revoked");
      }
    }
  });
});
