/**
 * Sharing end to end over the API: the owner shares a record (content key wrapped for the grantee's certificates,
 * then the grant), the grantee fetches and opens it (openssl agrees); after unsharing the grantee gets 404 and the
 * stored envelope no longer opens with the grantee's key. A directory that lists a foreign certificate is refused.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { CertvaultClient, ServerError, UntrustedCertificateError } from "../../src/client-sdk/index.js";
import { open, signGrant } from "../../src/envelope/index.js";
import { opensslReadRecord, pemToDer } from "../helpers/openssl.js";
import { rowsIn } from "../helpers/db.js";

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => (err instanceof ServerError ? err.code : String(err)),
  );

describe("sharing", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let bob: TestIdentity;
  let carol: TestIdentity;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    bob = await ca.issueClient("bob");
    carol = await ca.issueClient("carol");
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("share lets the grantee fetch and open the record; unshare takes both away again", async function () {
    const owner = server.client(alice);
    const grantee = server.client(bob, { retries: 0 });
    const id = await owner.put(new TextEncoder().encode("lab results, shared with Dr Bob"));
    // The grantee reads it as alice's record: its signature must name alice as owner and be hers.
    expect(await codeOf(grantee.get(id, { owner: "alice" })), "before sharing").to.equal("not_found");

    await owner.share(id, "bob");
    expect(new TextDecoder().decode(await grantee.get(id, { owner: "alice" }))).to.equal(
      "lab results, shared with Dr Bob",
    );
    const env = join(ca.home, "shared.der");
    writeFileSync(env, await grantee.getEnvelope(id));
    const byOpenssl = await opensslReadRecord({
      envelopeFile: env,
      keyPath: bob.keyPath,
      certPath: bob.certPath,
      rootPath: ca.paths.rootCert,
    });
    expect(byOpenssl.code, byOpenssl.stderr).to.equal(0);
    expect(byOpenssl.stdout).to.equal("lab results, shared with Dr Bob");
    // Read-only: the grantee can neither overwrite nor delete, and a third identity still sees nothing.
    expect(await codeOf(grantee.update(id, new TextEncoder().encode("edited by bob")))).to.equal("not_found");
    expect(await codeOf(grantee.delete(id))).to.equal("not_found");
    expect(await codeOf(server.client(carol, { retries: 0 }).get(id))).to.equal("not_found");
    expect(await ca.db("grants").where({ record_id: id }).pluck("grantee")).to.deep.equal(["bob"]);

    await owner.unshare(id, "bob");
    expect(await codeOf(grantee.get(id, { owner: "alice" }))).to.equal("not_found");
    const stored = (await ca.db("records").where({ id }).first("envelope")) as { envelope: Buffer };
    expect(() => open(new Uint8Array(stored.envelope), bob.key, bob.certPem)).to.throw();
    expect(new TextDecoder().decode(await owner.get(id))).to.equal("lab results, shared with Dr Bob");
    expect(await rowsIn(ca.db, "grants", { record_id: id })).to.equal(0);
  });

  it("an owner's update keeps the record shared (SDK-sealed and server-sealed alike)", async function () {
    const owner = server.client(alice);
    const grantee = server.client(bob, { retries: 0 });
    const id = await owner.put(new TextEncoder().encode("v1"));
    await owner.share(id, "bob");
    await owner.update(id, new TextEncoder().encode("v2 by the SDK"));
    expect(new TextDecoder().decode(await grantee.get(id, { owner: "alice" }))).to.equal("v2 by the SDK");
    const { request, Agent } = await import("node:https");
    const agent = new Agent({ ca: ca.rootPem, cert: alice.certPem, key: alice.keyPem });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${server.url}/v1/records/${id}`,
        { method: "PUT", agent },
        (res) => (res.resume(), res.on("end", () => resolve(res.statusCode ?? 0))),
      );
      req.on("error", reject);
      req.end("v3 sealed by the server");
    });
    agent.destroy();
    expect(status).to.equal(200);
    expect(new TextDecoder().decode(await grantee.get(id, { owner: "alice" }))).to.equal("v3 sealed by the server");
    expect((await grantee.openRecord(id, { owner: "alice" })).kind).to.equal("server-signed");
  });

  it("unshare removes every certificate of the grantee, also one the directory no longer lists (revoked)", async function () {
    const owner = server.client(alice);
    const dana1 = await ca.issueClient("dana");
    const id = await owner.put(new TextEncoder().encode("for dana"));
    await owner.share(id, "dana");
    await ca.revoke(dana1.serial, "keyCompromise"); // a stolen key of dana's: the directory no longer lists it
    const dana2 = await ca.issueClient("dana");
    await server.syncRegistry(); // the server's registry poll, now
    await owner.unshare(id, "dana");
    const stored = (await ca.db("records").where({ id }).first("envelope")) as { envelope: Buffer };
    expect(
      () => open(new Uint8Array(stored.envelope), dana1.key, dana1.certPem),
      "the revoked key still opens it",
    ).to.throw();
    expect(() => open(new Uint8Array(stored.envelope), dana2.key, dana2.certPem)).to.throw();
    expect(new TextDecoder().decode(await owner.get(id))).to.equal("for dana");
  });

  it("the server refuses a grant the envelope does not back, and an unshare that leaves the grantee a recipient", async function () {
    const owner = server.client(alice, { retries: 0 });
    const id = await owner.put(new TextEncoder().encode("not yet sealed to carol"));
    const { version } = await owner.getVersioned(id);
    // A genuine statement of alice's: the refusal is about the envelope, not the statement.
    const statement = signGrant(
      { key: alice.key, certificate: alice.certPem, chain: [ca.intermediatePem] },
      { owner: "alice", id, grantee: "carol" },
    );
    const res = await fetchWith(
      ca.rootPem,
      alice,
      `${server.url}/v1/records/${id}/grants/carol`,
      "PUT",
      version,
      statement,
    );
    expect(res.status).to.equal(409);
    await owner.share(id, "carol");
    const after = (await owner.getVersioned(id)).version;
    const del = await fetchWith(ca.rootPem, alice, `${server.url}/v1/records/${id}/grants/carol`, "DELETE", after);
    expect(del.status, "carol still a recipient").to.equal(409);
  });

  describe("a server whose directory lists a foreign certificate", function () {
    let evil: Server;
    let url: string;
    let puts = 0;
    before(async function () {
      const foreign = await ca.foreign();
      const mallory = await foreign.issueClient("bob"); // the right name, the wrong CA
      const srv = (await import("node:fs")).readFileSync(join(ca.home, "server", "server.crt"), "utf8");
      const { decryptPrivateKey } = await import("../../src/keys/encrypted-pkcs8.js");
      const key = decryptPrivateKey(
        (await import("node:fs")).readFileSync(join(ca.home, "server", "server.key"), "utf8"),
        ca.passphrase,
      ).export({ format: "pem", type: "pkcs8" });
      const crl = pemToDer(await ca.crl());
      evil = createServer(
        { key, cert: srv + ca.intermediatePem, ca: ca.rootPem + ca.intermediatePem, requestCert: true },
        (req, res) => {
          if (req.method === "PUT") puts++;
          if (req.url === "/v1/crl") {
            res.writeHead(200, { "content-type": "application/pkix-crl" });
            res.end(crl);
            return;
          }
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ identity: "bob", certificates: [mallory.certPem] }));
        },
      );
      await new Promise<void>((r) => evil.listen(0, "127.0.0.1", () => r()));
      url = `https://127.0.0.1:${(evil.address() as AddressInfo).port}`;
      await foreign.cleanup();
    });
    after(function () {
      evil.closeAllConnections();
      evil.close();
    });

    it("share refuses to wrap the record's key for it, and writes nothing", async function () {
      const client = new CertvaultClient({
        server: url,
        caPem: ca.rootPem,
        certPem: alice.certPem,
        key: alice.key,
        retries: 0,
      });
      try {
        const err = await client.share("0".repeat(32), "bob").then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(UntrustedCertificateError);
        expect(puts).to.equal(0);
      } finally {
        client.close();
      }
    });
  });
});

async function fetchWith(
  caPem: string,
  id: TestIdentity,
  url: string,
  method: string,
  version: number,
  body?: Uint8Array,
): Promise<{ status: number }> {
  const { request, Agent } = await import("node:https");
  const agent = new Agent({ ca: caPem, cert: id.certPem, key: id.keyPem });
  try {
    return await new Promise((resolve, reject) => {
      const req = request(url, { method, agent, headers: { "if-match": `"${version}"` } }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      });
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    agent.destroy();
  }
}
