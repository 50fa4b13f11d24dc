/**
 * The SDK learns the issuing CA from a verified handshake's chain (onServerChain). A resumed TLS session carries no
 * chain, so the chain must be noted when the first, full handshake completes, not when its first answer arrives.
 *
 * Found by the 1-hour soak (issue 19): twice in ~3,000 new clients an operation failed with untrusted_crl ("the
 * server's CRL is not signed by the pinned CA"). A new client's second connection resumed the first one's session
 * and answered (the CRL) before the first connection's answer; the chain was still unknown when the CRL was checked.
 */
import { expect } from "chai";
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { Transport } from "../../src/client-sdk/transport.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { eventually } from "../helpers/eventually.js";
import { decryptPrivateKey } from "../../src/keys/encrypted-pkcs8.js";
import { x509 } from "../../src/x509/x509.js";

describe("SDK transport: the server's chain is known before any answer, resumed sessions included", function () {
  this.timeout(30_000);
  let ca: TestCA;
  let server: Server;
  let url: string;
  const held: ServerResponse[] = [];
  const reused: boolean[] = [];
  let slowArrived: () => void = () => undefined;

  before(async function () {
    ca = await createTestCA();
    const provisioned = await startTestServer({ ca }); // makes HOME/server/server.{key,crt}
    await provisioned.stop();
    const dir = join(ca.home, "server");
    server = createServer(
      {
        key: decryptPrivateKey(readFileSync(join(dir, "server.key"), "utf8"), ca.passphrase).export({
          format: "pem",
          type: "pkcs8",
        }),
        cert: readFileSync(join(dir, "server.crt"), "utf8") + ca.intermediatePem,
        ca: ca.rootPem + ca.intermediatePem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        reused.push((req.socket as TLSSocket).isSessionReused());
        if (req.url === "/slow") {
          held.push(res);
          return slowArrived();
        }
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("fast");
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  after(async function () {
    for (const r of held) r.end();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await ca.cleanup();
  });

  it("an answer on a resumed connection, before the first connection's answer, finds the intermediate noted", async function () {
    const alice = await ca.issueClient("alice");
    const noted: string[] = [];
    const transport = new Transport({
      server: url,
      caPem: ca.rootPem,
      certPem: alice.certPem,
      key: alice.key,
      retries: 0,
      onServerChain: (ders) => {
        for (const d of ders) noted.push(new x509.X509Certificate(new Uint8Array(d)).subject);
      },
    });
    try {
      const arrived = new Promise<void>((r) => (slowArrived = r));
      const slow = transport.send("GET", "/slow");
      await arrived; // the first connection's handshake is done: its answer is held
      // Await the effect (no sleep): the client has stored the first connection's session ticket.
      const cache = (transport as unknown as { agent: { _sessionCache: { list: string[] } } }).agent._sessionCache;
      await eventually(() => cache.list.length > 0, { what: "the client's cached session ticket", timeoutMs: 5000 });
      const fast = await transport.send("GET", "/fast");
      expect(fast.status).to.equal(200);
      // The second connection resumed the first one's session: no chain of its own to note.
      expect(reused).to.deep.equal([false, true]);
      const intermediate = new x509.X509Certificate(ca.intermediatePem).subject;
      expect(noted, "chain noted by the time the resumed connection's answer is read").to.include(intermediate);
      held.shift()?.end("slow");
      expect((await slow).status).to.equal(200);
    } finally {
      transport.close();
    }
  });
});
