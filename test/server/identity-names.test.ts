/**
 * The server holds identities to the safe set of names (ca/identity-name.ts): an identity named in a path is refused
 * with 400 `invalid_input`, and a certificate whose CN is outside the set (issued before the rule; the test kit signs
 * it without the CA's check) gets 403 `identity_not_allowed` and no data. curl is the client.
 */
import { expect } from "chai";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { curl, json } from "../helpers/curl.js";

describe("server: identity names outside the safe set", function () {
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  const hostile: [string, string][] = [
    ["ali\u202Ece", "RIGHT-TO-LEFT OVERRIDE"],
    ["bob\u200B", "ZERO WIDTH SPACE"],
    ["\u0085x", "C1 NEXT LINE"],
    ["e\u0301", "NFD"],
    ["x\u001B[2J", "ESC"],
  ];

  for (const [name, why] of hostile) {
    it(`GET /v1/directory/:identity with ${why}: 400 invalid_input, a printable message`, async function () {
      const r = await curl(`${server.url}/v1/directory/${encodeURIComponent(name)}`, {
        cacert: ca.paths.rootCert,
        id: alice,
      });
      expect(r.status, r.body.toString()).to.equal(400);
      const err = json(r).error;
      expect(err?.code).to.equal("invalid_input");
      expect(err?.message).to.match(/^identity: the name /);
      expect(err?.message).to.match(/^[\x20-\x7e]+$/);
    });
  }

  it("PUT /v1/records/:id/grants/:identity with a bidi override: 400 invalid_input", async function () {
    const r = await curl(`${server.url}/v1/records/${"0".repeat(32)}/grants/${encodeURIComponent("ali\u202Ece")}`, {
      cacert: ca.paths.rootCert,
      id: alice,
      method: "PUT",
    });
    expect(r.status, r.body.toString()).to.equal(400);
    expect(json(r).error?.code).to.equal("invalid_input");
  });

  it("a safe name is still looked up (control: alice's directory entry answers 200)", async function () {
    const r = await curl(`${server.url}/v1/directory/alice`, { cacert: ca.paths.rootCert, id: alice });
    expect(r.status, r.body.toString()).to.equal(200);
  });

  for (const [name, why] of hostile) {
    it(`a certificate issued before the rule with CN ${why}: 403 identity_not_allowed, no data`, async function () {
      const old = await ca.issueClient(name);
      const r = await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: old });
      expect(r.status, r.body.toString()).to.equal(403);
      const body = json(r);
      expect(body.error?.code).to.equal("identity_not_allowed");
      expect(body.error?.message).to.match(/^[\x20-\x7e]+$/);
      expect(Object.keys(body)).to.deep.equal(["error"]);
      const records = await curl(`${server.url}/v1/records`, { cacert: ca.paths.rootCert, id: old });
      expect(records.status).to.equal(403);
    });
  }
});
