/**
 * Issue 15: a database writer plants certificates under alice's identity in the `certificates` table, while the server
 * runs: a self-signed one (CN=alice), one from a foreign CA with our CA's names (CN=alice), mallory's real certificate
 * with its row's identity changed to alice, and a copy of alice's row whose serial and fingerprint columns lie. The
 * server must seal to, list and accept as recipient only alice's real certificates, audit each planted row, and keep
 * alice's records working. curl and openssl are the judges.
 */
import { expect } from "chai";
import { X509Certificate, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { isRecipient, recipientsOf, seal } from "../../src/envelope/index.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { curl, json } from "../helpers/curl.js";
import { openssl, opensslOk } from "../helpers/openssl.js";
import { eventually } from "../helpers/eventually.js";

type Cert = Pick<TestIdentity, "certPem" | "certPath" | "keyPath">;
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase();

/** A registry row for `pem` whose columns tell the truth about the certificate, under `identity`. */
async function plant(
  ca: TestCA,
  pem: string,
  identity: string,
  lie: { serial?: string; fingerprint?: string } = {},
): Promise<string> {
  const c = new X509Certificate(pem);
  const serial = lie.serial ?? normalizeSerial(c.serialNumber);
  await new CertificateRepository(ca.db).insert({
    serial,
    identity,
    subject: c.subject,
    profile: "client",
    keyType: "ec-p256",
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    fingerprintSha256: lie.fingerprint ?? fingerprint(pem),
    pem,
    createdAt: new Date(),
  });
  return serial;
}

async function selfSigned(dir: string, cn: string): Promise<Cert> {
  const keyPath = join(dir, "self.key");
  const certPath = join(dir, "self.crt");
  await opensslOk([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    `/CN=${cn}`,
    "-days",
    "30",
    "-addext",
    "extendedKeyUsage=clientAuth",
    "-addext",
    "keyUsage=critical,digitalSignature,keyAgreement",
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-keyout",
    keyPath,
    "-out",
    certPath,
  ]);
  return { certPem: readFileSync(certPath, "utf8"), certPath, keyPath };
}

describe("server: a hostile registry (issue 15)", function () {
  let ca: TestCA;
  let foreign: TestCA;
  let server: TestServer;
  let rootFile: string;
  let alice: TestIdentity;
  let alice2: TestIdentity;
  let mallory: TestIdentity;
  let self: Cert;
  let impostor: TestIdentity;
  const planted: Record<string, string> = {};

  before(async function () {
    ca = await createTestCA();
    foreign = await ca.foreign();
    rootFile = join(ca.home, "ca", "root.crt");
    alice = await ca.issueClient("alice");
    mallory = await ca.issueClient("mallory");
    server = await startTestServer({ ca });
    await curl(`${server.url}/v1/me`, { cacert: rootFile, id: alice }); // the server has read alice's rows once
    // The database writer, while the server runs:
    self = await selfSigned(alice.dir, "alice");
    impostor = await foreign.issueClient("alice");
    await ca.db("certificates").where({ serial: mallory.serial }).update({ identity: "alice" });
    planted.selfSigned = await plant(ca, self.certPem, "alice");
    planted.foreign = await plant(ca, impostor.certPem, "alice");
    planted.copy = await plant(ca, alice.certPem, "alice", {
      serial: randomBytes(16).toString("hex"),
      fingerprint: randomBytes(32).toString("hex"),
    });
    planted.mallory = mallory.serial;
    // A real second certificate of alice: once /v1/me lists it, the server has re-read the registry, planted rows too.
    alice2 = await ca.issueClient("alice");
    await eventually(async () => ((await me(alice)).includes(fingerprint(alice2.certPem)) ? true : undefined), {
      what: "the server to re-read the registry",
    });
  });
  after(async function () {
    await server?.stop();
    await foreign?.cleanup();
    await ca?.cleanup();
  });

  async function me(who: TestIdentity): Promise<string[]> {
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: who });
    expect(r.status, r.body.toString()).to.equal(200);
    return (json(r).certificates as string[]).map(fingerprint);
  }

  async function postPlain(data: Buffer): Promise<Buffer> {
    const r = await curl(`${server.url}/v1/records`, { cacert: rootFile, id: alice, data });
    expect(r.status, r.body.toString()).to.equal(201);
    const got = await curl(`${server.url}/v1/records/${json(r).id as string}`, { cacert: rootFile, id: alice });
    expect(got.status).to.equal(200);
    return got.body;
  }

  async function decrypt(envelope: Buffer, who: Cert): Promise<{ code: number | null; out: Buffer }> {
    const file = join(alice.dir, `env-${randomBytes(4).toString("hex")}.der`);
    const out = `${file}.out`;
    writeFileSync(file, envelope);
    writeFileSync(out, "");
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
      out,
    ]);
    if (r.code !== 0) return { code: r.code, out: readFileSync(out) };
    // What decrypts is the server's SignedData over the upload: openssl verifies it and gives the content.
    const content = `${file}.content`;
    const v = await openssl([
      "cms",
      "-verify",
      "-inform",
      "DER",
      "-binary",
      "-in",
      out,
      "-CAfile",
      rootFile,
      "-purpose",
      "any",
      "-out",
      content,
    ]);
    return { code: v.code, out: v.code === 0 ? readFileSync(content) : Buffer.alloc(0) };
  }

  it("seals a plaintext upload to alice's real certificates only: the planted keys open nothing", async function () {
    const plaintext = randomBytes(2048);
    const envelope = await postPlain(plaintext);
    expect(recipientsOf(envelope)).to.have.length(2);
    expect(isRecipient(envelope, alice.certPem) && isRecipient(envelope, alice2.certPem)).to.equal(true);
    for (const pem of [self.certPem, impostor.certPem, mallory.certPem])
      expect(isRecipient(envelope, pem)).to.equal(false);
    expect((await decrypt(envelope, alice)).out.equals(plaintext)).to.equal(true);
    for (const attacker of [mallory, self, impostor]) {
      const r = await decrypt(envelope, attacker);
      expect(r.code).to.not.equal(0);
      expect(r.out.includes(plaintext.subarray(0, 32))).to.equal(false);
    }
  });

  it("lists only alice's real certificates in GET /v1/me and GET /v1/directory/alice", async function () {
    const real = [fingerprint(alice.certPem), fingerprint(alice2.certPem)].sort();
    expect((await me(alice)).sort()).to.deep.equal(real);
    const bob = await ca.issueClient("bob");
    const r = await curl(`${server.url}/v1/directory/alice`, { cacert: rootFile, id: bob });
    expect(r.status, r.body.toString()).to.equal(200);
    expect((json(r).certificates as string[]).map(fingerprint).sort()).to.deep.equal(real);
  });

  it("refuses a client-sealed upload whose only recipient is a planted certificate", async function () {
    for (const pem of [mallory.certPem, self.certPem, impostor.certPem]) {
      const r = await curl(`${server.url}/v1/records`, {
        cacert: rootFile,
        id: alice,
        data: seal(randomBytes(64), [pem]),
        headers: ["Content-Type: application/pkcs7-mime"],
      });
      expect(r.status, r.body.toString()).to.equal(400);
      expect(json(r).error?.code).to.equal("not_a_recipient");
    }
  });

  it("audits each planted row once as registry.rejected, naming its serial and identity, never its PEM", async function () {
    await me(alice);
    const rows = (await ca.db("audit_entries").where({ action: "registry.rejected" }).select("serial", "detail")) as {
      serial: string;
      detail: string;
    }[];
    const bySerial = new Map<string, number>();
    for (const r of rows) bySerial.set(r.serial, (bySerial.get(r.serial) ?? 0) + 1);
    for (const [name, serial] of Object.entries(planted)) expect(bySerial.get(serial), name).to.equal(1);
    expect(rows).to.have.length(Object.keys(planted).length);
    for (const r of rows) {
      expect(JSON.parse(r.detail)).to.include({ identity: "alice" }).and.to.have.property("reason").that.is.a("string");
      expect(r.detail).to.not.include("BEGIN");
    }
  });

  it("does not let mallory's certificate log in as alice once its row's identity column says alice", async function () {
    const r = await curl(`${server.url}/v1/me`, { cacert: rootFile, id: mallory });
    expect(r.status, r.body.toString()).to.equal(403);
    expect(json(r).error?.code).to.equal("certificate_not_allowed");
    expect(r.body.toString()).to.not.include('"identity":"alice"');
  });

  it("keeps alice's own records working through the SDK", async function () {
    const client = server.client(alice);
    const data = randomBytes(1000);
    const id = await client.put(data);
    expect(Buffer.from(await client.get(id)).equals(data)).to.equal(true);
    const envelope = await curl(`${server.url}/v1/records/${id}`, { cacert: rootFile, id: alice });
    for (const pem of [mallory.certPem, self.certPem, impostor.certPem])
      expect(isRecipient(envelope.body, pem)).to.equal(false);
  });
});
