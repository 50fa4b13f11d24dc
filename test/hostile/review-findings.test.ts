/**
 * Issue 15, found by an attacker's review of the first implementation (each failed before its fix, as the review's
 * reproductions showed): a grant statement sealed in as a record's content; a record signed by a server certificate
 * of our CA that is not this server's; a grant signed with a stolen key, backdated to before its revocation for
 * compromise. Each is refused, and the attacker's key opens nothing.
 */
import { expect } from "chai";
import { isRecipient, seal, signGrant, signRecord } from "../../src/envelope/index.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { codeOf, opensslDecrypt, storedEnvelope } from "../helpers/hostile.js";
import { eventually } from "../helpers/eventually.js";

describe("hostile database: what an attacker's review found (issue 15)", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let bob: TestIdentity;
  let mallory: TestIdentity;
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const setEnvelope = async (id: string, envelope: Uint8Array): Promise<void> => {
    expect(
      await ca
        .db("records")
        .where({ id })
        .update({ envelope: Buffer.from(envelope) }),
    ).to.equal(1);
  };

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    bob = await ca.issueClient("bob");
    mallory = await ca.issueClient("mallory");
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  it("grant_statement_as_record: alice's own grant statement, sealed in as her record's content, is untrusted_record for her and for bob", async function () {
    const owner = server.client(alice, { retries: 0 });
    const id = await owner.put(text("alice's real record content"));
    await owner.share(id, "bob");
    const row = (await ca.db("grants").where({ record_id: id, grantee: "bob" }).first("statement")) as {
      statement: Buffer;
    };
    await setEnvelope(
      id,
      seal(new Uint8Array(row.statement), [alice.certPem, bob.certPem], { contentType: "signed-data" }),
    );
    expect(await codeOf(owner.get(id))).to.equal("untrusted_record");
    expect(await codeOf(server.client(bob, { retries: 0 }).get(id, { owner: "alice" }))).to.equal("untrusted_record");
  });

  it("record_as_grant_statement: a record's signed content stored as a grant statement is untrusted_grant", async function () {
    const owner = server.client(alice, { retries: 0 });
    const id = await owner.put(text("v1"));
    // The content a colluder could choose is a grant's JSON; signed as a record, it is still not a grant.
    const content = text(JSON.stringify({ type: "certvault-grant", v: 1, grantee: "mallory" }));
    const asRecord = signRecord(
      content,
      { key: alice.key, certificate: alice.certPem, chain: [ca.intermediatePem] },
      { owner: "alice", id },
    );
    await ca
      .db("grants")
      .insert({ record_id: id, grantee: "mallory", granted_at: Date.now(), statement: Buffer.from(asRecord) });
    expect(await codeOf(owner.update(id, text("v2")))).to.equal("untrusted_grant");
    expect(isRecipient(await storedEnvelope(ca, id), mallory.certPem)).to.equal(false);
  });

  it("server_certificate_for_another_host: a record signed by another service's server certificate of our CA is untrusted_record", async function () {
    const owner = server.client(alice, { retries: 0 });
    const id = await owner.put(text("the real one"));
    const other = await ca.issueServer("wiki.intranet.example");
    const forged = signRecord(
      text("forged: pay mallory 10000"),
      { key: other.key, certificate: other.certPem, chain: [ca.intermediatePem] },
      { owner: "alice", id },
    );
    await setEnvelope(id, seal(forged, [alice.certPem], { contentType: "signed-data" }));
    expect(await codeOf(owner.get(id))).to.equal("untrusted_record");
    // Control: this server's own signature (a curl-style plaintext upload through the API) is accepted.
    const { curl, json } = await import("../helpers/curl.js");
    const r = await curl(`${server.url}/v1/records`, { cacert: ca.paths.rootCert, id: alice, data: "via curl" });
    expect(r.status).to.equal(201);
    expect((await owner.openRecord(json(r).id as string)).kind).to.equal("server-signed");
  });

  it("backdated_grant_by_compromised_key: a grant signed with carol's stolen key, dated before its keyCompromise revocation, is untrusted_grant", async function () {
    const stolen = await ca.issueClient("carol");
    const carol2 = await ca.issueClient("carol");
    const c2 = server.client(carol2, { retries: 0, crlMaxAgeMs: 0 });
    const id = await c2.put(text("v1: carol's secret"));
    const statement = signGrant(
      { key: stolen.key, certificate: stolen.certPem, chain: [ca.intermediatePem] },
      { owner: "carol", id, grantee: "mallory" },
      { now: new Date(Date.now() - 30_000) },
    );
    await ca.revoke(stolen, "keyCompromise");
    const { curl } = await import("../helpers/curl.js");
    const { x509 } = await import("../../src/x509/x509.js");
    await eventually(
      async () => {
        const r = await curl(`${server.url}/v1/crl`, { cacert: ca.paths.rootCert, id: carol2 });
        return new x509.X509Crl(new Uint8Array(r.body)).findRevoked(new x509.X509Certificate(stolen.certPem)) !== null;
      },
      { what: "the server's CRL to list the stolen key" },
    );
    await ca
      .db("grants")
      .insert({ record_id: id, grantee: "mallory", granted_at: Date.now(), statement: Buffer.from(statement) });
    expect(await codeOf(c2.update(id, text("v2: after the theft was reported")))).to.equal("untrusted_grant");
    const env = await storedEnvelope(ca, id);
    expect(isRecipient(env, mallory.certPem)).to.equal(false);
    expect((await opensslDecrypt(env, mallory)).code).to.not.equal(0);
  });
});
