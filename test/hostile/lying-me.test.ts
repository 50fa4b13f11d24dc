/**
 * Issue 15, a server that lies about whom to seal to: root on the API node answers GET /v1/me and the directory with
 * lies (the real server, its TLS and database, with the attacker's hand in front of its handler; everything else is
 * passed on). The SDK seals to nobody the lie names: it writes nothing, and nothing stored opens with the named key.
 * (Registry rows planted in the database are the server's to refuse: test/server/hostile-registry.test.ts.)
 */
import { expect } from "chai";
import { join } from "node:path";
import { isRecipient } from "../../src/envelope/index.js";
import { x509 } from "../../src/x509/x509.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { curl, json } from "../helpers/curl.js";
import { answerJson, codeOf, hijack, opensslDecrypt, recordCount, storedEnvelope } from "../helpers/hostile.js";
import type { Hijack, Lie } from "../helpers/hostile.js";
import { eventually } from "../helpers/eventually.js";

describe("hostile server: a lying /v1/me and directory (issue 15)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let alicePhone: TestIdentity;
  let mallory: TestIdentity;
  let bobby: TestIdentity;
  let h: Hijack | undefined;
  const rootFile = (): string => join(ca.home, "ca", "root.crt");

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    alicePhone = await ca.issueClient("alice");
    mallory = await ca.issueClient("mallory");
    bobby = await ca.issueClient("bobby");
  });
  afterEach(function () {
    h?.restore();
    h = undefined;
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  const client = (): ReturnType<TestServer["client"]> => server.client(alice, { retries: 0, crlMaxAgeMs: 0 });
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const lieAbout =
    (path: string, body: unknown): Lie =>
    (req, res) =>
      req.method === "GET" && req.url === path && answerJson(res, body);
  const meOf = (certs: TestIdentity[], who: TestIdentity = alice): unknown => ({
    identity: who.name,
    serial: who.serial,
    notAfter: new Date(Date.now() + 86_400_000).toISOString(),
    certificates: certs.map((c) => c.certPem),
    recovery: null,
  });

  /** Waits until the real server's CRL (GET /v1/crl, as the SDK fetches it) lists `serial`. */
  async function untilServerCrlLists(serial: string): Promise<void> {
    await eventually(
      async () => {
        const r = await curl(`${server.url}/v1/crl`, { cacert: rootFile(), id: alice });
        return (
          r.status === 200 &&
          new x509.X509Crl(new Uint8Array(r.body)).entries.some(
            (e) => e.serialNumber.toLowerCase().replace(/^0+/, "") === serial,
          )
        );
      },
      { what: `the server's CRL lists ${serial}` },
    );
  }

  /** Alice's put is refused with `code` before anything is written; no record of alice's or mallory's appears. */
  async function expectPutRefused(code: string): Promise<void> {
    const before = [await recordCount(ca, "alice"), await recordCount(ca, "mallory")];
    expect(await codeOf(client().put(text("alice's diary")))).to.equal(code);
    expect(h?.writes, "the SDK sent a write to the lying server").to.deep.equal([]);
    expect([await recordCount(ca, "alice"), await recordCount(ca, "mallory")]).to.deep.equal(before);
  }

  it("a /v1/me naming mallory (with mallory's real certificate): put fails with identity_mismatch, nothing written", async function () {
    h = hijack(server, lieAbout("/v1/me", meOf([mallory], mallory)));
    await expectPutRefused("identity_mismatch");
  });

  it("a /v1/me naming alice's serial but another identity: identity_mismatch", async function () {
    h = hijack(server, lieAbout("/v1/me", { ...(meOf([mallory], mallory) as object), serial: alice.serial }));
    await expectPutRefused("identity_mismatch");
  });

  it("a /v1/me naming alice but listing mallory's real certificate (our CA, another identity): refused", async function () {
    h = hijack(server, lieAbout("/v1/me", meOf([alice, mallory])));
    await expectPutRefused("untrusted_certificate");
  });

  it("a /v1/me listing a revoked certificate of alice: refused against the real CRL, nothing sealed to it", async function () {
    // Control: before the revocation, the same answer makes the SDK seal to the phone too (the lie is delivered).
    h = hijack(server, lieAbout("/v1/me", meOf([alice, alicePhone])));
    const id = await client().put(text("before the phone was stolen"));
    expect(isRecipient(await storedEnvelope(ca, id), alicePhone.certPem)).to.equal(true);
    h.restore();

    await ca.revoke(alicePhone.serial, "keyCompromise");
    await untilServerCrlLists(alicePhone.serial);
    const real = await curl(`${server.url}/v1/me`, { cacert: rootFile(), id: alice });
    expect((json(real).certificates as string[]).length, "the real server no longer lists the phone").to.equal(1);
    // The attacker replays the old answer; the CRL the SDK fetches is the real one.
    h = hijack(server, lieAbout("/v1/me", meOf([alice, alicePhone])));
    await expectPutRefused("untrusted_certificate");
    h.restore();
    h = undefined;
    const after = await client().put(text("after"));
    const env = await storedEnvelope(ca, after);
    expect([isRecipient(env, alice.certPem), isRecipient(env, alicePhone.certPem)]).to.deep.equal([true, false]);
    const stolen = await opensslDecrypt(env, alicePhone);
    expect(stolen.code).to.not.equal(0);
    expect(stolen.out.length).to.equal(0);
  });

  it("a directory listing bobby's revoked (only) certificate: share refuses and re-wraps nothing", async function () {
    const owner = client();
    const id = await owner.put(text("for bobby, once"));
    const before = await storedEnvelope(ca, id);
    await ca.revoke(bobby.serial, "keyCompromise");
    await untilServerCrlLists(bobby.serial);
    const real = await curl(`${server.url}/v1/directory/bobby`, { cacert: rootFile(), id: alice });
    expect(real.status, "the real directory no longer lists bobby").to.equal(404);
    h = hijack(server, lieAbout("/v1/directory/bobby", { identity: "bobby", certificates: [bobby.certPem] }));
    expect(await codeOf(owner.share(id, "bobby"))).to.equal("untrusted_certificate");
    expect(h.writes).to.deep.equal([]);
    const env = await storedEnvelope(ca, id);
    expect(Buffer.from(env).equals(Buffer.from(before)), "the stored envelope changed").to.equal(true);
    expect(isRecipient(env, bobby.certPem)).to.equal(false);
    expect((await opensslDecrypt(env, bobby)).code).to.not.equal(0);
    expect(await ca.db("grants").where({ record_id: id }).pluck("grantee")).to.deep.equal([]);
  });
});
