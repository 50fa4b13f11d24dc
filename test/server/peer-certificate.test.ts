/**
 * server/tls/peer-certificate.ts reads a full handshake's client certificate with getPeerCertificate() and a resumed
 * one's with getPeerX509Certificate() (cheaper there: ~15-20 against ~90 us), once per socket. Both ways must give
 * exactly the fields Node's getPeerCertificate() gives (DER, serial, SHA-256 fingerprint: auth.ts, the revocation
 * watcher and the console's CSRF check key on them), for TLS 1.2 and 1.3, and a second read must be the first. Two
 * identities take turns, so that a read kept for the wrong socket (or for the process) gives itself away.
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer } from "node:tls";
import type { Server, TLSSocket } from "node:tls";
import { expect } from "chai";
import { peerCertificate, peerSerial } from "../../src/server/tls/peer-certificate.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { TempDirs } from "../helpers/cli.js";

interface Seen {
  reused: boolean;
  ours: ReturnType<typeof peerCertificate>;
  again: ReturnType<typeof peerCertificate>;
  serial: string | null;
  node: { raw: Buffer; serialNumber: string; fingerprint256: string };
}

describe("peer certificate: read once per socket, the cheaper way for resumed sessions", function () {
  this.timeout(30_000);
  const tmp = new TempDirs();
  let ca: TestCA;
  let alice: TestIdentity;
  let bob: TestIdentity;
  let server: Server;
  let port: number;
  const seen: Seen[] = [];

  before(async () => {
    ca = await createTestCA();
    alice = await ca.issueClient("alice");
    bob = await ca.issueClient("bob");
    const dir = tmp.make();
    const [key, cert] = [join(dir, "server.key"), join(dir, "server.crt")];
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-days", "1",
    ], { stdio: "ignore" }); // prettier-ignore
    server = createServer(
      {
        key: readFileSync(key),
        cert: readFileSync(cert),
        ca: [ca.rootPem],
        requestCert: true,
        rejectUnauthorized: false,
      },
      (socket: TLSSocket) => {
        // Ours first (the order the server reads in), then Node's own object to compare with.
        const ours = peerCertificate(socket);
        seen.push({
          reused: socket.isSessionReused(),
          ours,
          again: peerCertificate(socket),
          serial: peerSerial(socket),
          node: socket.getPeerCertificate(),
        });
        socket.end("bye");
      },
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server.close();
    await ca.cleanup();
    tmp.cleanup();
  });

  /** One connection; resolves with the session to resume once the server ended it. */
  function connectOnce(
    who: TestIdentity,
    version: "TLSv1.2" | "TLSv1.3",
    session?: Buffer,
  ): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
      let ticket: Buffer | undefined;
      const s = connect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        rejectUnauthorized: false,
        cert: who.certPem + ca.intermediatePem,
        key: who.keyPem,
        minVersion: version,
        maxVersion: version,
        ...(session ? { session } : {}),
      });
      s.on("session", (t: Buffer) => (ticket = t));
      s.on("data", () => undefined);
      s.on("close", () => resolve(ticket));
      s.on("error", reject);
    });
  }

  const der = (who: TestIdentity) => Buffer.from(who.certPem.replace(/-----[^-]+-----|\s/g, ""), "base64");

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it(`${version}: full and resumed connections give Node's DER, serial and fingerprint, each its own, read once`, async () => {
      seen.length = 0;
      const aliceSession = await connectOnce(alice, version);
      const bobSession = await connectOnce(bob, version);
      expect(aliceSession, "the server handed out a session").to.not.equal(undefined);
      expect(bobSession, "the server handed out a session").to.not.equal(undefined);
      await connectOnce(alice, version, aliceSession);
      await connectOnce(bob, version, bobSession);
      expect(seen.map((s) => s.reused)).to.deep.equal([false, false, true, true]);
      const expected = [alice, bob, alice, bob];
      seen.forEach((s, i) => {
        const who = expected[i] as TestIdentity;
        const what = `connection ${i + 1} (${who === alice ? "alice" : "bob"}, reused: ${s.reused})`;
        expect(s.ours, what).to.not.equal(undefined);
        expect(s.ours?.raw.equals(der(who)), what).to.equal(true);
        expect(s.ours?.raw.equals(s.node.raw), what).to.equal(true);
        expect(s.ours?.serialNumber, what).to.equal(s.node.serialNumber);
        expect(s.ours?.fingerprint256, what).to.equal(s.node.fingerprint256);
        expect(s.serial, what).to.equal(normalizeSerial(s.node.serialNumber));
        expect(s.again, what).to.equal(s.ours);
      });
    });
  }
});
