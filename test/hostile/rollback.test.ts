/**
 * Issue 15, a database writer who turns time back: a revoked certificate set back to "active" in the registry (the
 * server then lists it again and signs a CRL without it), and an old grant row restored after the owner unshared.
 * A client that saw the revocation, or made the unshare, does not seal to that key again. openssl is the judge.
 * (A client that never saw them cannot know: docs/threat-model.md says so.)
 */
import { expect } from "chai";
import { x509 } from "../../src/x509/x509.js";
import { isRecipient } from "../../src/envelope/index.js";
import { MemoryTrustState } from "../../src/client-sdk/index.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { codeOf, opensslDecrypt, storedEnvelope } from "../helpers/hostile.js";
import { curl } from "../helpers/curl.js";
import { eventually } from "../helpers/eventually.js";

describe("hostile database: revocations and unshares turned back (issue 15)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  async function crlLists(serial: string, who: TestIdentity): Promise<boolean> {
    const r = await curl(`${server.url}/v1/crl`, { cacert: ca.paths.rootCert, id: who });
    return new x509.X509Crl(new Uint8Array(r.body)).entries.some(
      (e) => e.serialNumber.toLowerCase().replace(/^0+/, "") === serial.replace(/^0+/, ""),
    );
  }

  it("a certificate un-revoked in the registry stays revoked for a client that saw its revocation", async function () {
    const laptop = await ca.issueClient("erin");
    const stolen = await ca.issueClient("erin");
    const trust = new MemoryTrustState();
    const client = server.client(laptop, { trustState: trust, crlMaxAgeMs: 0 });
    await ca.revoke(stolen.serial, "keyCompromise");
    await eventually(() => crlLists(stolen.serial, laptop), {
      what: "the server's CRL to list the stolen certificate",
    });
    await client.put(text("seen the revocation")); // the client verifies that CRL and remembers what it revoked
    // The database writer: the row is active again. At the next revocation of anything the server signs a CRL
    // from the registry as it now reads (without it, with a higher number) and lists the certificate in /v1/me.
    await ca.db("certificates").where({ serial: stolen.serial }).update({ status: "active", revoked_at: null });
    const other = await ca.issueClient("someone-else");
    await ca.revoke(other.serial, "superseded");
    await eventually(async () => (await crlLists(other.serial, laptop)) && !(await crlLists(stolen.serial, laptop)), {
      what: "the server's CRL to leave it out",
    });
    await eventually(async () => (await client.me()).certificates.includes(stolen.certPem), {
      what: "/v1/me to list it again",
    });

    expect(await codeOf(client.put(text("after the un-revocation")))).to.equal("untrusted_certificate");
    const ids = (await ca.db("records").where({ owner: "erin" }).pluck("id")) as string[];
    expect(ids, "the refused put wrote nothing").to.have.length(1);
    for (const id of ids) {
      const env = await storedEnvelope(ca, id);
      expect(isRecipient(env, stolen.certPem), "sealed to the stolen key").to.equal(false);
      expect((await opensslDecrypt(env, stolen)).code).to.not.equal(0);
    }
  });

  it("a grant row restored after the owner unshared does not get the next version sealed to the former grantee", async function () {
    const alice = await ca.issueClient("alice");
    const bob = await ca.issueClient("bob");
    const owner = server.client(alice, { trustState: new MemoryTrustState() });
    const id = await owner.put(text("v1, shared for a while"));
    await owner.share(id, "bob");
    const row = (await ca.db("grants").where({ record_id: id, grantee: "bob" }).first()) as Record<string, unknown>;
    expect(row.statement, "the signed statement the writer keeps a copy of").to.not.equal(null);
    await owner.unshare(id, "bob");
    await ca.db("grants").insert(row); // the database writer puts the old, genuinely signed, grant back

    expect(await codeOf(owner.update(id, text("v2, not for bob")))).to.equal("untrusted_grant");
    const env = await storedEnvelope(ca, id);
    expect(isRecipient(env, bob.certPem)).to.equal(false);
    expect((await opensslDecrypt(env, bob)).code).to.not.equal(0);
    // Sharing again is the owner's own new statement: honoured.
    await ca.db("grants").where({ record_id: id }).delete();
    await owner.share(id, "bob");
    await owner.update(id, text("v3, for bob again"));
    expect(new TextDecoder().decode(await server.client(bob).get(id, { owner: "alice" }))).to.equal(
      "v3, for bob again",
    );
  });
});
