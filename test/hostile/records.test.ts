/**
 * Issue 15, forged and swapped records: a database writer (or anyone with alice's public certificate) stores
 * envelopes under alice's ids that open with her key: another record of hers, bob's record, content sealed with
 * `openssl cms -encrypt`, a SignedData by mallory or by the server's key for another owner. get() returns none of it
 * as alice's: a typed error and no bytes. A genuine server-sealed upload is told apart and can be refused.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openContent, seal, signRecord } from "../../src/envelope/index.js";
import { decryptPrivateKey } from "../../src/keys/encrypted-pkcs8.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { curl, json } from "../helpers/curl.js";
import { opensslOk } from "../helpers/openssl.js";
import { errorOf, storedEnvelope } from "../helpers/hostile.js";
import type { CertvaultClient } from "../../src/client-sdk/index.js";

describe("hostile database: forged and swapped records (issue 15)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let bob: TestIdentity;
  let mallory: TestIdentity;
  let owner: CertvaultClient;
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const rootFile = (): string => join(ca.home, "ca", "root.crt");
  const setEnvelope = async (id: string, envelope: Uint8Array, extra: Record<string, unknown> = {}): Promise<void> => {
    expect(
      await ca
        .db("records")
        .where({ id })
        .update({ envelope: Buffer.from(envelope), ...extra }),
    ).to.equal(1);
  };

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    bob = await ca.issueClient("bob");
    mallory = await ca.issueClient("mallory");
    owner = server.client(alice, { retries: 0 });
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  /**
   * get() and openRecord() of `id` fail with `code` and hand out nothing of `planted`, whatever the read options; the
   * envelope itself does open with alice's key (the refusal is the SDK's judgement, not a failed decryption).
   */
  async function expectRefused(
    id: string,
    code: string,
    planted: string,
    opts: { acceptUnsigned?: boolean } = {},
  ): Promise<void> {
    for (const o of [{}, { acceptServerSealed: true, ...opts }]) {
      const err = await errorOf(owner.get(id, o));
      expect(err?.code, String(err?.message)).to.equal(code);
      expect(String(err?.message)).to.not.include(planted);
      expect((await errorOf(owner.openRecord(id, o)))?.code).to.equal(code);
    }
    expect(
      new TextDecoder().decode(openContent(await storedEnvelope(ca, id), alice.key, alice.certPem).content),
    ).to.include(planted);
  }

  it("envelopes swapped between two of alice's ids: untrusted_record, both ways", async function () {
    const a = await owner.put(text("record A: pay 10 to bob"));
    const b = await owner.put(text("record B: pay 10000 to mallory"));
    const [envA, envB] = [await storedEnvelope(ca, a), await storedEnvelope(ca, b)];
    await setEnvelope(a, envB);
    await setEnvelope(b, envA);
    await expectRefused(a, "untrusted_record", "record B");
    await expectRefused(b, "untrusted_record", "record A");
    await setEnvelope(a, envA); // put back: the same bytes under their own id are alice's again
    expect(new TextDecoder().decode(await owner.get(a))).to.equal("record A: pay 10 to bob");
  });

  it("bob's record (shared with alice) moved under alice's ownership, or onto one of her ids: untrusted_record", async function () {
    const bobs = server.client(bob, { retries: 0 });
    const r = await bobs.put(text("bob's note, shared with alice"));
    await bobs.share(r, "alice");
    expect(
      new TextDecoder().decode(await owner.get(r, { owner: "bob" })),
      "precondition: alice reads it as bob's",
    ).to.equal("bob's note, shared with alice");
    const a = await owner.put(text("alice's own"));
    await setEnvelope(a, await storedEnvelope(ca, r));
    await expectRefused(a, "untrusted_record", "bob's note");
    await ca.db("grants").where({ record_id: r }).delete();
    expect(await ca.db("records").where({ id: r }).update({ owner: "alice" })).to.equal(1);
    await expectRefused(r, "untrusted_record", "bob's note");
  });

  it("content sealed to alice's certificate with openssl cms -encrypt, stored by a database writer: unsigned_record", async function () {
    const id = await owner.put(text("the real one"));
    const plain = join(alice.dir, "forged.txt");
    writeFileSync(plain, "forged: alice owes mallory 10000");
    await opensslOk([
      "cms",
      "-encrypt",
      "-binary",
      "-aes-256-gcm",
      "-in",
      plain,
      "-recip",
      alice.certPath,
      "-keyopt",
      "ecdh_kdf_md:sha256",
      "-outform",
      "DER",
      "-out",
      `${plain}.der`,
    ]);
    await setEnvelope(id, readFileSync(`${plain}.der`));
    await expectRefused(id, "unsigned_record", "forged: alice owes");
    // Only an explicit opt-in (records from before signatures) reads it, and it says what it is.
    const opened = await owner.openRecord(id, { acceptUnsigned: true });
    expect([opened.kind, new TextDecoder().decode(opened.content)]).to.deep.equal([
      "unsigned",
      "forged: alice owes mallory 10000",
    ]);
  });

  it("the same forgery uploaded through the API as a client-sealed record: unsigned_record", async function () {
    const plain = join(alice.dir, "forged-api.txt");
    writeFileSync(plain, "forged via the API");
    await opensslOk([
      "cms",
      "-encrypt",
      "-binary",
      "-aes-256-gcm",
      "-in",
      plain,
      "-recip",
      alice.certPath,
      "-keyopt",
      "ecdh_kdf_md:sha256",
      "-outform",
      "DER",
      "-out",
      `${plain}.der`,
    ]);
    const r = await curl(`${server.url}/v1/records`, {
      cacert: rootFile(),
      id: alice,
      dataFile: `${plain}.der`,
      headers: ["Content-Type: application/pkcs7-mime"],
    });
    expect(r.status, r.body.toString()).to.equal(201);
    await expectRefused(json(r).id as string, "unsigned_record", "forged via the API");
  });

  it("a SignedData by mallory, bound to alice and the id, sealed to alice: untrusted_record", async function () {
    const id = await owner.put(text("the real one"));
    const signed = signRecord(
      text("mallory's words in alice's record"),
      { key: mallory.key, certificate: mallory.certPem, chain: [ca.intermediatePem] },
      { owner: "alice", id },
    );
    await setEnvelope(id, seal(signed, [alice.certPem], { contentType: "signed-data" }));
    await expectRefused(id, "untrusted_record", "mallory's words");
  });

  it("a SignedData made by openssl cms -sign with mallory's key (no binding), sealed to alice: untrusted_record", async function () {
    const id = await owner.put(text("the real one"));
    const plain = join(mallory.dir, "openssl-signed.txt");
    writeFileSync(plain, "signed by mallory with openssl");
    await opensslOk([
      "cms",
      "-sign",
      "-binary",
      "-nodetach",
      "-in",
      plain,
      "-signer",
      mallory.certPath,
      "-inkey",
      mallory.keyPath,
      "-outform",
      "DER",
      "-out",
      `${plain}.p7s`,
    ]);
    // openssl cms -encrypt always says id-data inside; the envelope code seals openssl's SignedData as id-signedData.
    const forged = seal(new Uint8Array(readFileSync(`${plain}.p7s`)), [alice.certPem], { contentType: "signed-data" });
    expect(
      openContent(forged, alice.key, alice.certPem).contentType,
      "precondition: the forgery carries a SignedData",
    ).to.equal("signed-data");
    await setEnvelope(id, forged);
    await expectRefused(id, "untrusted_record", "signed by mallory");
  });

  it("a SignedData by the server's own key for another owner (bob), sealed to alice under her id: untrusted_record", async function () {
    const id = await owner.put(text("the real one"));
    const srv = join(ca.home, "server");
    const key = decryptPrivateKey(readFileSync(join(srv, "server.key"), "utf8"), ca.passphrase);
    const signed = signRecord(
      text("server-sealed for bob"),
      { key, certificate: readFileSync(join(srv, "server.crt"), "utf8"), chain: [ca.intermediatePem] },
      { owner: "bob", id },
    );
    await setEnvelope(id, seal(signed, [alice.certPem], { contentType: "signed-data" }));
    await expectRefused(id, "untrusted_record", "server-sealed for bob");
  });

  it("a genuine plaintext upload (curl): reported as server-signed, refused with acceptServerSealed:false", async function () {
    const r = await curl(`${server.url}/v1/records`, {
      cacert: rootFile(),
      id: alice,
      data: "uploaded with curl",
      headers: ["Content-Type: text/plain"],
    });
    expect(r.status, r.body.toString()).to.equal(201);
    const id = json(r).id as string;
    const opened = await owner.openRecord(id);
    expect([opened.kind, new TextDecoder().decode(opened.content)]).to.deep.equal([
      "server-signed",
      "uploaded with curl",
    ]);
    const err = await errorOf(owner.get(id, { acceptServerSealed: false }));
    expect(err?.code).to.equal("server_sealed_record");
    expect(String(err?.message)).to.not.include("uploaded with curl");
    const strict = server.client(alice, { retries: 0, read: { acceptServerSealed: false } });
    expect((await errorOf(strict.get(id)))?.code).to.equal("server_sealed_record");
    expect((await strict.openRecord(await strict.put(text("signed by alice")))).kind).to.equal("owner-signed");
  });

  it("a large record's chunks reordered, taken from another record or lost: a typed error and no bytes (store/record-chunks.ts)", async function () {
    const big = (tag: string): Uint8Array => Buffer.concat([Buffer.from(tag), randomBytes(2 * 1024 * 1024)]);
    const [plainA, plainB] = [big("large record A"), big("large record B")];
    const a = await owner.put(plainA);
    const b = await owner.put(plainB);
    const chunks = (id: string): Promise<{ seq: number; bytes: Buffer }[]> =>
      ca.db("record_chunks").where({ record_id: id }).orderBy("seq").select("seq", "bytes");
    const setChunk = async (id: string, seq: number, bytes: Buffer): Promise<void> => {
      expect(await ca.db("record_chunks").where({ record_id: id, seq }).update({ bytes })).to.equal(1);
    };
    const [ofA, ofB] = [await chunks(a), await chunks(b)];
    expect(ofA.length).to.be.above(32); // stored in chunks, or this test proves nothing
    // Two of A's chunks swapped: the server cannot tell, the SDK must (the content's tag no longer verifies).
    await setChunk(a, 3, ofA[4]!.bytes);
    await setChunk(a, 4, ofA[3]!.bytes);
    const swapped = await errorOf(owner.get(a));
    expect(swapped?.code, String(swapped?.message)).to.equal("decryption_failed");
    // One of B's chunks in A's place (same length): the same.
    await setChunk(a, 3, ofA[3]!.bytes);
    await setChunk(a, 4, ofB[4]!.bytes);
    expect((await errorOf(owner.get(a)))?.code).to.equal("decryption_failed");
    // A chunk lost: the server refuses to hand out what is left (500, nothing of the record) and keeps serving.
    await ca.db("record_chunks").where({ record_id: a, seq: 4 }).delete();
    const lost = await curl(`${server.url}/v1/records/${a}`, { cacert: rootFile(), id: alice });
    expect(lost.status).to.equal(500);
    expect(json(lost).error?.code).to.equal("internal_error");
    expect(lost.body.toString()).to.not.include("record");
    expect(Buffer.from(await owner.get(b)).equals(plainB)).to.equal(true);
    // Put back, A opens again: the refusals above were the chunks' doing.
    await ca.db("record_chunks").insert({ record_id: a, seq: 4, version: 1, bytes: ofA[4]!.bytes });
    expect(Buffer.from(await owner.get(a)).equals(plainA)).to.equal(true);
  });
});
