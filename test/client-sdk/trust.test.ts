/**
 * The SDK trusts the pinned root and nothing else: a server outside it is refused before a request is sent, and a
 * server that lists a foreign certificate in /v1/me does not get a record sealed to it.
 */
import { expect } from "chai";
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CertvaultClient, UntrustedCertificateError } from "../../src/client-sdk/index.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { decryptPrivateKey } from "../../src/keys/encrypted-pkcs8.js";
import { pemToDer } from "../helpers/openssl.js";
import type { IncomingMessage, ServerResponse } from "node:http";

/** A lying server still serves the CA's genuine CRL: the SDK checks recipients against it. */
function servesCrl(crl: Buffer, req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url !== "/v1/crl") return false;
  res.writeHead(200, { "content-type": "application/pkix-crl" });
  res.end(crl);
  return true;
}

function clientFor(url: string, ca: TestCA, id: TestIdentity): CertvaultClient {
  return new CertvaultClient({
    server: url.replace("127.0.0.1", "localhost"),
    caPem: ca.rootPem,
    certPem: id.certPem,
    key: createPrivateKey(id.keyPem),
    retries: 0,
  });
}

describe("client SDK: trust", function () {
  let ca: TestCA;
  let foreign: TestCA;
  let server: TestServer;

  before(async function () {
    ca = await createTestCA();
    foreign = await createTestCA();
    server = await startTestServer({ ca });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
    await foreign.cleanup();
  });

  it("a user with two certificates (laptop, phone) opens records from either device", async function () {
    const laptop = await ca.issueClient("dana");
    const phone = await ca.issueClient("dana");
    const a = clientFor(server.url, ca, laptop);
    const b = clientFor(server.url, ca, phone);
    try {
      const id = await a.put(new TextEncoder().encode("from the laptop"));
      expect(new TextDecoder().decode(await b.get(id))).to.equal("from the laptop");
      expect(new TextDecoder().decode(await a.get(id))).to.equal("from the laptop");
    } finally {
      a.close();
      b.close();
    }
  });

  it("refuses a server whose certificate does not chain to the pinned root, before any request is sent", async function () {
    // A server using the foreign CA's material: its certificate chains to another root.
    const fake = await startTestServer({ ca: foreign });
    let requests = 0;
    fake.running.server.prependListener("request", () => requests++);
    const alice = await ca.issueClient("alice");
    const c = clientFor(fake.url, ca, alice);
    try {
      let failed: unknown;
      try {
        await c.me();
      } catch (err) {
        failed = err;
      }
      expect(failed, "the SDK talked to a server outside the pinned root").to.be.instanceOf(Error);
      expect((failed as Error).message).to.match(/certificate|verify|self/i);
      expect(requests).to.equal(0);
    } finally {
      c.close();
      await fake.stop();
    }
  });

  describe("a malicious server that lists a foreign certificate in /v1/me", function () {
    let evil: Server;
    let url: string;
    let posts = 0;
    let alice: TestIdentity;

    before(async function () {
      alice = await ca.issueClient("alice2");
      const mallory = await foreign.issueClient("alice2"); // same identity name, foreign CA
      // The server's own TLS certificate is genuine (issued by our CA); only its answers lie.
      const srvDir = join(ca.home, "server");
      const key = decryptPrivateKey(readFileSync(join(srvDir, "server.key"), "utf8"), ca.passphrase).export({
        format: "pem",
        type: "pkcs8",
      });
      const crl = pemToDer(await ca.crl());
      evil = createServer(
        {
          key,
          cert: readFileSync(join(srvDir, "server.crt"), "utf8") + ca.intermediatePem,
          ca: ca.rootPem + ca.intermediatePem,
          requestCert: true,
          rejectUnauthorized: true,
        },
        (req, res) => {
          if (servesCrl(crl, req, res)) return;
          if (req.method !== "GET") {
            posts++;
            res.writeHead(201, { "content-type": "application/json" });
            res.end('{"id":"00000000000000000000000000000000"}');
            return;
          }
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              identity: "alice2",
              serial: alice.serial,
              notAfter: new Date().toISOString(),
              certificates: [alice.certPem, mallory.certPem],
            }),
          );
        },
      );
      await new Promise<void>((r) => evil.listen(0, "127.0.0.1", () => r()));
      url = `https://localhost:${(evil.address() as AddressInfo).port}`;
    });
    after(function () {
      evil.closeAllConnections();
      evil.close();
    });

    it("put refuses to seal to it and uploads nothing", async function () {
      const c = new CertvaultClient({
        server: url,
        caPem: ca.rootPem,
        certPem: alice.certPem,
        key: createPrivateKey(alice.keyPem),
        retries: 0,
      });
      try {
        let failed: unknown;
        try {
          await c.put(new TextEncoder().encode("secret"));
        } catch (err) {
          failed = err;
        }
        expect(
          failed,
          String((failed as Error | undefined)?.message) +
            " / " +
            String((failed as { cause?: Error } | undefined)?.cause),
        ).to.be.instanceOf(UntrustedCertificateError);
        expect(posts).to.equal(0);
      } finally {
        c.close();
      }
    });

    it("put refuses a listed certificate of our CA that belongs to another identity", async function () {
      const bob = await ca.issueClient("bob2");
      const crl = pemToDer(await ca.crl());
      const swap = createServer(
        {
          key: decryptPrivateKey(readFileSync(join(ca.home, "server", "server.key"), "utf8"), ca.passphrase).export({
            format: "pem",
            type: "pkcs8",
          }),
          cert: readFileSync(join(ca.home, "server", "server.crt"), "utf8") + ca.intermediatePem,
          ca: ca.rootPem + ca.intermediatePem,
          requestCert: true,
        },
        (req, res) => {
          if (servesCrl(crl, req, res)) return;
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              identity: "alice2",
              serial: alice.serial,
              notAfter: "",
              certificates: [alice.certPem, bob.certPem],
            }),
          );
        },
      );
      await new Promise<void>((r) => swap.listen(0, "127.0.0.1", () => r()));
      const c = new CertvaultClient({
        server: `https://localhost:${(swap.address() as AddressInfo).port}`,
        caPem: ca.rootPem,
        certPem: alice.certPem,
        key: createPrivateKey(alice.keyPem),
        retries: 0,
      });
      try {
        let failed: unknown;
        try {
          await c.put(new TextEncoder().encode("secret"));
        } catch (err) {
          failed = err;
        }
        expect(
          failed,
          String((failed as Error | undefined)?.message) +
            " / " +
            String((failed as { cause?: Error } | undefined)?.cause),
        ).to.be.instanceOf(UntrustedCertificateError);
      } finally {
        c.close();
        swap.closeAllConnections();
        swap.close();
      }
    });
  });
});
