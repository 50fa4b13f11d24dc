/**
 * Records end to end: curl stores, openssl opens; the database never holds plaintext; owners only; malformed input
 * gets its code, writes nothing, and the server keeps serving.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { curl, json } from "../helpers/curl.js";
import { runProcess } from "../helpers/cli.js";
import { openssl } from "../helpers/openssl.js";
import { rowsIn } from "../helpers/db.js";

describe("server: records", function () {
  let ca: TestCA;
  let server: TestServer;
  let rootFile: string;
  let alice: TestIdentity;
  let bob: TestIdentity;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    rootFile = join(ca.home, "ca", "root.crt");
    alice = await ca.issueClient("alice");
    bob = await ca.issueClient("bob");
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  const countRecords = (): Promise<number> => rowsIn(ca.db, "records");

  async function post(id: TestIdentity, data: Uint8Array | string, headers: string[] = []): Promise<string> {
    const r = await curl(`${server.url}/v1/records`, { cacert: rootFile, id, data, headers });
    expect(r.status, r.body.toString()).to.equal(201);
    const recordId = json(r).id as string;
    expect(recordId).to.match(/^[0-9a-f]{32}$/);
    return recordId;
  }

  /** The response headers of GET /v1/records/ID, as curl prints them. */
  async function headersOf(recordId: string): Promise<string> {
    const r = await runProcess(
      "curl",
      [
        "-sS",
        "--cacert",
        rootFile,
        "--cert",
        alice.certPath,
        "--key",
        alice.keyPath,
        "-o",
        "/dev/null",
        "-D",
        "-",
        `${server.url}/v1/records/${recordId}`,
      ],
      { timeoutMs: 30_000 },
    );
    return r.stdout;
  }

  async function openWithOpenssl(envelope: Buffer, who: TestIdentity): Promise<Buffer> {
    const file = join(who.dir, `env-${randomBytes(4).toString("hex")}.der`);
    writeFileSync(file, envelope);
    const out = join(who.dir, "plain.out");
    const signed = join(who.dir, "signed.der");
    const r = await openssl([
      "cms",
      "-decrypt",
      "-inform",
      "DER",
      "-binary",
      "-in",
      file,
      "-inkey",
      who.keyPath,
      "-recip",
      who.certPath,
      "-out",
      signed,
    ]);
    expect(r.code, r.stderr).to.equal(0);
    // A plaintext upload is signed by the server's certificate, bound to its owner and id, then sealed: openssl
    // verifies that signature against the root before it gives the content.
    const signer = join(who.dir, "signer.pem");
    const v = await openssl([
      "cms",
      "-verify",
      "-inform",
      "DER",
      "-binary",
      "-in",
      signed,
      "-CAfile",
      rootFile,
      "-purpose",
      "any",
      "-signer",
      signer,
      "-out",
      out,
    ]);
    expect(v.code, v.stderr).to.equal(0);
    expect(readFileSync(signer, "utf8").replace(/\s/g, "")).to.equal(
      readFileSync(join(ca.home, "server", "server.crt"), "utf8").replace(/\s/g, ""),
    );
    return readFileSync(out);
  }

  it("stores a file sent by curl and openssl cms opens the fetched envelope byte-identically", async function () {
    const plaintext = randomBytes(50_000);
    const id = await post(alice, plaintext);
    const r = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    expect(r.status).to.equal(200);
    expect(r.body.subarray(0, 1)[0]).to.equal(0x30); // DER SEQUENCE
    expect(Buffer.compare(await openWithOpenssl(r.body, alice), plaintext)).to.equal(0);
  });

  it("never writes a record's plaintext to the database files", async function () {
    const marker = `PLAINTEXT-MARKER-${randomBytes(12).toString("hex")}`;
    await post(alice, marker.repeat(20));
    await post(alice, marker.repeat(40_000)); // 1.6 MB: stored in chunks (store/record-chunks.ts)
    if (ca.dbTarget.startsWith("postgres")) {
      // PostgreSQL: ask the server itself, over every column that holds bytes or text.
      const hits = await ca.db.raw(
        "SELECT (SELECT count(*) FROM records WHERE position(?::bytea in envelope) > 0) + (SELECT count(*) FROM record_chunks WHERE position(?::bytea in bytes) > 0) + (SELECT count(*) FROM audit_entries WHERE concat_ws(' ', actor, action, record_id, detail) LIKE ?) AS n",
        [Buffer.from(marker), Buffer.from(marker), `%${marker}%`],
      );
      expect(Number((hits as { rows: { n: string }[] }).rows[0]?.n)).to.equal(0);
      return;
    }
    // WAL mode: the bytes may sit in the -wal file as well as the main file; search all of them.
    const files = readdirSync(ca.home).filter((f) => f.startsWith("certvault.db"));
    expect(files.length).to.be.greaterThan(0);
    for (const f of files) expect(readFileSync(join(ca.home, f)).includes(Buffer.from(marker))).to.equal(false, f);
  });

  it("another identity cannot read, overwrite, delete or list a record: 404 as for a missing id", async function () {
    const id = await post(alice, "alice's secret");
    const read = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: bob });
    const missing = await curl(`${server.url}/v1/records/${"a".repeat(32)}`, { cacert: rootFile, id: bob });
    expect(read.status).to.equal(404);
    expect(json(read)).to.deep.equal(json(missing));
    const put = await curl(`${server.url}/v1/records/${id}`, {
      cacert: rootFile,
      id: bob,
      method: "PUT",
      data: "overwritten",
    });
    expect(put.status).to.equal(404);
    const del = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: bob, method: "DELETE" });
    expect(del.status).to.equal(404);
    const list = await curl(`${server.url}/v1/records?limit=1000`, { cacert: rootFile, id: bob });
    expect((json(list).records as { id: string }[]).map((r) => r.id)).to.not.include(id);
    const still = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    expect((await openWithOpenssl(still.body, alice)).toString()).to.equal("alice's secret");
  });

  it("PUT replaces and DELETE removes the owner's record", async function () {
    const id = await post(alice, "v1");
    const put = await curl(`${server.url}/v1/records/${id}`, {
      cacert: rootFile,
      id: alice,
      method: "PUT",
      data: "v2",
    });
    expect(put.status).to.equal(200);
    const got = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    expect((await openWithOpenssl(got.body, alice)).toString()).to.equal("v2");
    const del = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice, method: "DELETE" });
    expect(del.status).to.equal(204);
    const gone = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    expect(gone.status).to.equal(404);
  });

  it("pages through the owner's records with a cursor, each exactly once", async function () {
    const carol = await ca.issueClient("carol");
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) ids.add(await post(carol, `record ${i}`));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const r = await curl(`${server.url}/v1/records?limit=3${q}`, { cacert: rootFile, id: carol });
      expect(r.status).to.equal(200);
      const page = json(r) as unknown as {
        records: { id: string; size: number; createdAt: string }[];
        next: string | null;
      };
      expect(page.records.length).to.be.at.most(3);
      for (const rec of page.records) {
        expect(rec.size).to.be.greaterThan(0);
        seen.push(rec.id);
      }
      cursor = page.next;
    } while (cursor);
    expect(seen).to.have.length(7);
    expect(new Set(seen)).to.deep.equal(ids);
  });

  it("accepts a client-sealed envelope addressed to the caller and stores it as sent", async function () {
    const plain = join(alice.dir, "plain.txt");
    writeFileSync(plain, "sealed on the client");
    const env = join(alice.dir, "client.der");
    const s = await openssl([
      "cms",
      "-encrypt",
      "-binary",
      "-aes-256-gcm",
      "-in",
      plain,
      "-outform",
      "DER",
      "-out",
      env,
      "-recip",
      alice.certPath,
      "-keyopt",
      "ecdh_kdf_md:sha256",
    ]);
    expect(s.code, s.stderr).to.equal(0);
    const sent = readFileSync(env);
    const r = await curl(`${server.url}/v1/records`, {
      cacert: rootFile,
      id: alice,
      data: sent,
      headers: ["Content-Type: application/pkcs7-mime"],
    });
    expect(r.status, r.body.toString()).to.equal(201);
    const got = await curl(`${server.url}/v1/records/${json(r).id as string}`, { cacert: rootFile, id: alice });
    expect(Buffer.compare(got.body, sent)).to.equal(0);
  });

  it("accepts an envelope sealed to a certificate of the caller issued a moment ago (before the server's next poll)", async function () {
    const { seal } = await import("../../src/envelope/index.js");
    const { request, Agent } = await import("node:https");
    const owner = await ca.issueClient("quick");
    const agent = new Agent({ keepAlive: true, ca: ca.rootPem, cert: owner.certPem, key: owner.keyPem });
    const call = (body: Uint8Array): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(
          `${server.url}/v1/records`,
          { method: "POST", agent, headers: { "content-type": "application/pkcs7-mime" } },
          (res) => (res.resume(), res.on("end", () => resolve(res.statusCode ?? 0))),
        );
        req.on("error", reject);
        req.end(body);
      });
    try {
      expect(await call(seal(new TextEncoder().encode("warm the cache"), [owner.certPem]))).to.equal(201);
      const fresh = await ca.issueClient("quick"); // the server's cached list of quick's certificates lacks this one
      expect(await call(seal(new TextEncoder().encode("for the new key only"), [fresh.certPem]))).to.equal(201);
    } finally {
      agent.destroy();
    }
  });

  it("refuses a client-sealed envelope that is not addressed to the caller, and garbage CMS", async function () {
    const before = await countRecords();
    const plain = join(bob.dir, "plain.txt");
    writeFileSync(plain, "for alice only");
    const env = join(bob.dir, "foralice.der");
    await openssl([
      "cms",
      "-encrypt",
      "-binary",
      "-aes-256-gcm",
      "-in",
      plain,
      "-outform",
      "DER",
      "-out",
      env,
      "-recip",
      alice.certPath,
      "-keyopt",
      "ecdh_kdf_md:sha256",
    ]);
    const notMine = await curl(`${server.url}/v1/records`, {
      cacert: rootFile,
      id: bob,
      data: readFileSync(env),
      headers: ["Content-Type: application/pkcs7-mime"],
    });
    expect(notMine.status).to.equal(400);
    expect(json(notMine).error?.code).to.be.a("string");
    const garbage = await curl(`${server.url}/v1/records`, {
      cacert: rootFile,
      id: bob,
      data: randomBytes(200),
      headers: ["Content-Type: application/pkcs7-mime"],
    });
    expect(garbage.status).to.equal(400);
    expect(json(garbage).error?.code).to.be.a("string");
    expect(await countRecords()).to.equal(before);
  });

  it("versions records: GET gives an ETag, PUT with a stale If-Match is refused with 412 and changes nothing", async function () {
    const id = await post(alice, "version one");
    const first = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    expect(first.status).to.equal(200);
    const etag = /^etag:\s*(\S+)\s*$/im.exec(await headersOf(id))?.[1];
    expect(etag).to.equal('"1"');
    const ok = await curl(`${server.url}/v1/records/${id}`, {
      cacert: rootFile,
      id: alice,
      method: "PUT",
      data: "version two",
      headers: ['If-Match: "1"'],
    });
    expect(ok.status).to.equal(200);
    expect(json(ok)).to.deep.equal({ id, version: 2 });
    const stale = await curl(`${server.url}/v1/records/${id}`, {
      cacert: rootFile,
      id: alice,
      method: "PUT",
      data: "lost update",
      headers: ['If-Match: "1"'],
    });
    expect(stale.status).to.equal(412);
    expect(json(stale).error?.code).to.equal("precondition_failed");
    const now = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    expect(Buffer.compare(await openWithOpenssl(now.body, alice), Buffer.from("version two"))).to.equal(0);
    const bad = await curl(`${server.url}/v1/records/${id}`, {
      cacert: rootFile,
      id: alice,
      method: "PUT",
      data: "x",
      headers: ["If-Match: *"],
    });
    expect(bad.status).to.equal(400);
  });

  it("answers bad ids and bad queries with 400 and their codes", async function () {
    for (const bad of [
      "short",
      "a".repeat(33),
      "A".repeat(32),
      "-" + "a".repeat(31),
      "..%2F..%2Fetc",
      "%00" + "a".repeat(31),
    ]) {
      const r = await curl(`${server.url}/v1/records/${bad}`, { cacert: rootFile, id: alice });
      expect(r.status, bad).to.equal(400);
      expect(json(r).error?.code).to.equal("invalid_id");
    }
    for (const q of ["limit=0", "limit=abc", "limit=100000", "cursor=!!!", "cursor=bm90LWEtY3Vyc29y"]) {
      const r = await curl(`${server.url}/v1/records?${q}`, { cacert: rootFile, id: alice });
      expect(r.status, q).to.equal(400);
      expect(json(r).error?.code).to.equal("invalid_query");
    }
  });

  it("refuses a body of 16 MiB + 1 with 413 payload_too_large, writes nothing, keeps serving", async function () {
    const before = await countRecords();
    const big = join(alice.dir, "big.bin");
    writeFileSync(big, Buffer.alloc(16 * 1024 * 1024 + 1, 0x61));
    const r = await curl(`${server.url}/v1/records`, { cacert: rootFile, id: alice, dataFile: big });
    expect(r.status).to.equal(413);
    expect(json(r).error?.code).to.equal("payload_too_large");
    expect(await countRecords()).to.equal(before);
    const me = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: alice });
    expect(me.status).to.equal(200);
  });

  it("accepts a body of exactly 16 MiB, stored in chunks, and openssl cms opens the fetched envelope byte-identically", async function () {
    const big = join(alice.dir, "exact.bin");
    const plaintext = randomBytes(16 * 1024 * 1024);
    writeFileSync(big, plaintext);
    const r = await curl(`${server.url}/v1/records`, { cacert: rootFile, id: alice, dataFile: big });
    expect(r.status).to.equal(201);
    const id = json(r).id as string;
    expect(await rowsIn(ca.db, "record_chunks", { record_id: id })).to.equal(257); // 256 x 64 KiB and the overhead
    const got = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    expect(got.status).to.equal(200);
    expect(Buffer.compare(await openWithOpenssl(got.body, alice), plaintext)).to.equal(0);
  });
});
