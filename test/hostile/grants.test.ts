/**
 * Issue 15, a database writer: a `grants` row alice never signed (no statement, a statement of hers for another
 * record, one signed by mallory) does not make alice's update() seal to mallory; a changed `identity` column makes
 * no certificate a recipient or a login of another identity. openssl with mallory's key is the judge.
 * (The server side of planted registry rows: test/server/hostile-registry.test.ts.)
 */
import { expect } from "chai";
import { join } from "node:path";
import { isRecipient, signGrant } from "../../src/envelope/index.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { curl } from "../helpers/curl.js";
import { codeOf, opensslDecrypt, recordCount, storedEnvelope } from "../helpers/hostile.js";
import { eventually } from "../helpers/eventually.js";

describe("hostile database: injected grants and identity columns (issue 15)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let bob: TestIdentity;
  let mallory: TestIdentity;
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const signer = (who: TestIdentity): { key: TestIdentity["key"]; certificate: string; chain: string[] } => ({
    key: who.key,
    certificate: who.certPem,
    chain: [ca.intermediatePem],
  });
  const rootFile = (): string => join(ca.home, "ca", "root.crt");

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

  /** Mallory's key opens nothing of the stored record, by the SDK's envelope code and by openssl. */
  async function expectClosedToMallory(id: string, secret: string): Promise<void> {
    const env = await storedEnvelope(ca, id);
    expect(isRecipient(env, mallory.certPem), "sealed to mallory").to.equal(false);
    const r = await opensslDecrypt(env, mallory);
    expect(r.code).to.not.equal(0);
    expect(r.out.toString("latin1")).to.not.include(secret);
    // Control: the same openssl call with the owner's key opens it (so the refusal above is about the key).
    const own = await opensslDecrypt(env, alice);
    expect(own.code).to.equal(0);
    expect(own.out.toString("latin1")).to.include(secret);
  }

  const injected: { how: string; statement: (id: string) => Buffer | null }[] = [
    { how: "with no statement", statement: () => null },
    {
      how: "with a statement alice signed for another record",
      statement: () =>
        Buffer.from(
          signGrant(signer(alice), { owner: "alice", id: "0123456789abcdef0123456789abcdef", grantee: "mallory" }),
        ),
    },
    {
      how: "with a statement mallory signed as alice's",
      statement: (id) => Buffer.from(signGrant(signer(mallory), { owner: "alice", id, grantee: "mallory" })),
    },
  ];

  for (const { how, statement } of injected) {
    it(`a grants row for mallory ${how}: alice's update refuses (untrusted_grant) and seals to nobody new`, async function () {
      const owner = server.client(alice, { retries: 0 });
      const id = await owner.put(text("v1: alice's secret"));
      await ca
        .db("grants")
        .insert({ record_id: id, grantee: "mallory", granted_at: Date.now(), statement: statement(id) });
      const version = (await owner.getVersioned(id)).version;

      expect(await codeOf(owner.update(id, text("v2: alice's next secret")))).to.equal("untrusted_grant");
      expect((await owner.getVersioned(id)).version, "the update was written").to.equal(version);
      await expectClosedToMallory(id, "alice's");
      // The row lets mallory fetch the envelope; her key opens nothing of it.
      const mine = server.client(mallory, { retries: 0 });
      expect(await codeOf(mine.get(id, { owner: "alice" }))).to.not.equal("ok");
    });
  }

  it("a row for mallory carrying alice's genuine statement for bob: refused, not sealed to either by the lie", async function () {
    const owner = server.client(alice, { retries: 0 });
    const id = await owner.put(text("v1: alice's secret"));
    const forBob = Buffer.from(signGrant(signer(alice), { owner: "alice", id, grantee: "bob" }));
    await ca.db("grants").insert({ record_id: id, grantee: "mallory", granted_at: Date.now(), statement: forBob });
    expect(await codeOf(owner.update(id, text("v2")))).to.equal("untrusted_grant");
    await expectClosedToMallory(id, "alice's");
    expect(isRecipient(await storedEnvelope(ca, id), bob.certPem)).to.equal(false);
  });

  it("control: a genuine grant survives update (the refusals above are about the rows, not about grants)", async function () {
    const owner = server.client(alice, { retries: 0 });
    const id = await owner.put(text("v1 for bob"));
    await owner.share(id, "bob");
    await owner.update(id, text("v2 for bob"));
    expect(new TextDecoder().decode(await server.client(bob, { retries: 0 }).get(id, { owner: "alice" }))).to.equal(
      "v2 for bob",
    );
    await ca.db("grants").insert({ record_id: id, grantee: "mallory", granted_at: Date.now(), statement: null });
    expect(await codeOf(owner.update(id, text("v3")))).to.equal("untrusted_grant");
    await expectClosedToMallory(id, "v");
  });

  it("UPDATE certificates SET identity='mallory' on carol's serial: carol's put seals nothing to mallory", async function () {
    const carol = await ca.issueClient("carol");
    const before = await recordCount(ca, "mallory");
    await ca.db("certificates").where({ serial: carol.serial }).update({ identity: "mallory" });
    // Once the server has re-read the registry, carol's certificate is refused rather than taken for mallory.
    await eventually(
      async () => (await curl(`${server.url}/v1/me`, { cacert: rootFile(), id: carol })).status === 403,
      { what: "the server refuses carol's certificate" },
    );
    const code = await codeOf(server.client(carol, { retries: 0 }).put(text("carol's secret")));
    expect(code).to.be.oneOf(["certificate_not_allowed", "identity_mismatch"]);
    expect(await recordCount(ca, "mallory")).to.equal(before);
    expect(await recordCount(ca, "carol")).to.equal(0);
  });

  it("UPDATE certificates SET identity='alice' on mallory's serial: alice's put is not sealed to it, mallory cannot log in as alice", async function () {
    const mallory2 = await ca.issueClient("mallory");
    await ca.db("certificates").where({ serial: mallory2.serial }).update({ identity: "alice" });
    await eventually(
      async () => (await curl(`${server.url}/v1/me`, { cacert: rootFile(), id: mallory2 })).status === 403,
      { what: "the server refuses mallory's certificate" },
    );
    const owner = server.client(alice, { retries: 0 });
    const id = await owner.put(text("alice's secret, after the row changed"));
    const env = await storedEnvelope(ca, id);
    expect(isRecipient(env, mallory2.certPem)).to.equal(false);
    expect((await opensslDecrypt(env, mallory2)).code).to.not.equal(0);
    const asAlice = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile(), id: mallory2 });
    expect(asAlice.status).to.equal(403);
    expect(new TextDecoder().decode(await owner.get(id))).to.equal("alice's secret, after the row changed");
  });
});
