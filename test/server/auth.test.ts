/**
 * Who gets in: only client certificates of this CA, within validity, with EKU clientAuth, not CA:TRUE, not revoked.
 * curl is the client; every refusal must return no data.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { curl, json } from "../helpers/curl.js";

describe("server: who gets in", function () {
  let ca: TestCA;
  let foreign: TestCA;
  let server: TestServer;
  let rootFile: string;

  before(async function () {
    ca = await createTestCA();
    foreign = await createTestCA(); // same names ("certvault test"), different keys
    server = await startTestServer({ ca });
    rootFile = join(ca.home, "ca", "root.crt");
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
    await foreign.cleanup();
  });

  it("admits a client certificate of this CA and reports the identity (GET /v1/me)", async function () {
    const alice = await ca.issueClient("alice");
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: alice });
    expect(r.status).to.equal(200);
    const me = json(r);
    expect(me.identity).to.equal("alice");
    expect(me.serial).to.equal(alice.serial);
    expect(me.certificates).to.be.an("array").with.length(1);
    expect((me.certificates as string[])[0]).to.equal(alice.certPem);
  });

  it("lists every active certificate of an identity", async function () {
    const a1 = await ca.issueClient("multi");
    const a2 = await ca.issueClient("multi");
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: a2 });
    expect(r.status, r.body.toString() + " a1=" + a1.serial + " a2=" + a2.serial).to.equal(200);
    const certs = json(r).certificates as string[];
    expect(certs).to.have.members([a1.certPem, a2.certPem]);
  });

  it("refuses a connection without a client certificate (handshake fails, no data)", async function () {
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile });
    expect(r.exit).to.not.equal(0);
    expect(r.body.length).to.equal(0);
  });

  it("refuses a certificate from a foreign CA with the same names", async function () {
    const mallory = await foreign.issueClient("alice");
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: mallory });
    expect(r.exit).to.not.equal(0);
    expect(r.body.length).to.equal(0);
  });

  const refusedAtHandshakeOrHttp = async (id: { certPath: string; keyPath: string }, code?: string): Promise<void> => {
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id });
    if (r.exit === 0) {
      expect(r.status).to.be.oneOf([401, 403]);
      const body = json(r);
      expect(body).to.not.have.property("identity");
      if (code) expect(body.error?.code).to.equal(code);
    } else {
      expect(r.body.length).to.equal(0);
    }
  };

  it("refuses an expired certificate", async function () {
    const old = await ca.issueClient("expired", {
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    await refusedAtHandshakeOrHttp(old);
  });

  it("refuses a not-yet-valid certificate", async function () {
    const future = await ca.issueClient("future", {
      notBefore: new Date(Date.now() + 86_400_000),
      notAfter: new Date(Date.now() + 10 * 86_400_000),
    });
    await refusedAtHandshakeOrHttp(future);
  });

  it("refuses a certificate without EKU (which OpenSSL alone would accept)", async function () {
    const noEku = await ca.issueClient("noeku", { noEku: true });
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: noEku });
    expect(r.status).to.equal(403);
    expect(json(r).error?.code).to.equal("certificate_not_allowed");
  });

  it("refuses a certificate whose EKU is serverAuth only", async function () {
    const srv = await ca.issueClient("serveronly", { eku: "serverAuth" });
    await refusedAtHandshakeOrHttp(srv);
  });

  it("refuses a CA:TRUE certificate used as a client leaf", async function () {
    const caLeaf = await ca.issueClient("caleaf", { caTrue: true });
    await refusedAtHandshakeOrHttp(caLeaf);
  });

  it("refuses a certificate signed by this CA but missing from its registry", async function () {
    const ghost = await ca.issueClient("ghost", { unregistered: true });
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: ghost });
    expect(r.status).to.equal(403);
  });

  // The server keeps a certificate's vetting outcome (by fingerprint) across connections: these say what it may keep.
  it("refuses a refused certificate again on every new connection", async function () {
    const noEku = await ca.issueClient("noeku-again", { noEku: true });
    for (let i = 0; i < 2; i++) {
      const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: noEku });
      expect(r.status, `connection ${i + 1}`).to.equal(403);
      expect(json(r).error?.code).to.equal("certificate_not_allowed");
    }
  });

  it("admits a certificate refused as unknown once the registry knows it (that refusal is not kept)", async function () {
    const late = await ca.issueClient("late", { unregistered: true });
    expect((await curl(`${server.url}/v1/me`, { cacert: rootFile, id: late })).status).to.equal(403);
    const { x509 } = await import("../../src/x509/x509.js");
    const cert = new x509.X509Certificate(late.certPem);
    const { CertificateRepository } = await import("../../src/store/certificates.js");
    await new CertificateRepository(ca.db).insert({
      serial: late.serial,
      identity: "late",
      subject: cert.subject,
      profile: "client",
      keyType: late.keyType,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      fingerprintSha256: Buffer.from(await cert.getThumbprint("SHA-256")).toString("hex"),
      pem: late.certPem,
      createdAt: new Date(),
    });
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: late });
    expect(r.status, r.body.toString()).to.equal(200);
    expect(json(r).identity).to.equal("late");
  });

  it("refuses a certificate admitted before, on a new connection, once it is revoked", async function () {
    const erin = await ca.issueClient("erin");
    expect((await curl(`${server.url}/v1/me`, { cacert: rootFile, id: erin })).status).to.equal(200);
    await ca.revoke(erin.serial, "keyCompromise");
    await server.syncRegistry();
    await refusedAtHandshakeOrHttp(erin);
  });

  it("refuses a revoked certificate (handshake CRL or 403 certificate_revoked)", async function () {
    const bob = await ca.issueClient("bob");
    await ca.revoke(bob.serial, "keyCompromise");
    await server.syncRegistry();
    await refusedAtHandshakeOrHttp(bob);
  });

  it("answers unknown endpoints with a JSON 404 and keeps serving", async function () {
    const carol = await ca.issueClient("carol");
    const r = await curl(`${server.url}/v2/nothing`, { cacert: rootFile, id: carol });
    expect(r.status).to.equal(404);
    expect(json(r).error?.code).to.equal("not_found");
    const again = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: carol });
    expect(again.status).to.equal(200);
  });

  it("serves the current CRL as DER (GET /v1/crl) that openssl verifies", async function () {
    const dave = await ca.issueClient("dave");
    const r = await curl(`${server.url}/v1/crl`, { cacert: rootFile, id: dave });
    expect(r.status).to.equal(200);
    const der = join(ca.home, "served.crl");
    writeFileSync(der, r.body);
    const bundle = join(ca.home, "bundle.pem");
    writeFileSync(bundle, ca.intermediatePem + ca.rootPem);
    const { openssl } = await import("../helpers/openssl.js");
    const v = await openssl(["crl", "-inform", "DER", "-in", der, "-CAfile", bundle, "-noout", "-verify"]);
    expect(v.code, v.stderr).to.equal(0);
    expect(v.stderr + v.stdout).to.match(/verify OK/); // openssl prints it on stderr
  });
});
