/**
 * Who gets in: only client certificates of this CA, within validity, with EKU clientAuth, not CA:TRUE, not revoked.
 * curl is the client; every refusal must return no data.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../testing/index.js";
import type { TestCA, TestServer } from "../../testing/index.js";
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
    const old = await ca.issueClient("expired", { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    await refusedAtHandshakeOrHttp(old);
  });

  it("refuses a not-yet-valid certificate", async function () {
    const future = await ca.issueClient("future", { notBefore: new Date(Date.now() + 86_400_000), notAfter: new Date(Date.now() + 10 * 86_400_000) });
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

  it("refuses a revoked certificate (handshake CRL or 403 certificate_revoked)", async function () {
    const bob = await ca.issueClient("bob");
    await ca.revoke(bob.serial, "keyCompromise");
    await new Promise((r) => setTimeout(r, 400));
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
