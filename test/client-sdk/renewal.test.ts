/**
 * Renewal over mTLS: a user asks for a certificate for a new key of the same identity. Manual policy (the default):
 * the request waits until an admin approves it with the CLI; auto policy: issued at once. Either way openssl
 * verifies the chain; a CSR for someone else, garbage, or a second pending request are refused and write nothing.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { FileKeyStore, ServerError, createKeyAndCsr } from "../../src/client-sdk/index.js";
import { runCli } from "../helpers/cli.js";
import { openssl } from "../helpers/openssl.js";
import { rowsIn } from "../helpers/db.js";

const NEW_KEY_PASSPHRASE = "a new key passphrase";
let lastKeyPath = "";

/** A CSR for a new key made by the SDK (the key kept encrypted in a file, its path in lastKeyPath). */
async function newCsr(ca: TestCA, name: string): Promise<string> {
  lastKeyPath = join(ca.home, `${name}-${Date.now()}-${Math.random()}.key`);
  const { csrPem } = await createKeyAndCsr({
    name,
    keyType: "ec-p256",
    store: new FileKeyStore(lastKeyPath),
    passphrase: NEW_KEY_PASSPHRASE,
  });
  return csrPem;
}

async function verifiedByOpenssl(ca: TestCA, pem: string): Promise<boolean> {
  const file = join(ca.home, `renewed-${Math.random()}.pem`);
  writeFileSync(file, pem);
  const r = await openssl(["verify", "-CAfile", ca.paths.rootCert, "-untrusted", ca.paths.intermediateCert, file]);
  return r.code === 0 && /: OK/.test(r.stdout);
}

const count = (ca: TestCA, table: string): Promise<number> => rowsIn(ca.db, table);

describe("renewal: manual approval (default)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("waits for an admin, who approves it with the CLI; the certificate is the identity's and chains to the root", async function () {
    const alice = await ca.issueClient("alice");
    const client = server.client(alice);
    const asked = await client.requestCertificate(await newCsr(ca, "alice"));
    expect(asked.status).to.equal("pending");
    expect(asked.certificate).to.equal(undefined);
    expect((await client.certificateRequest(asked.id)).status).to.equal("pending");

    const list = await runCli(["requests", "list", ...ca.cliArgs, "--json"]);
    expect(list.code, list.stderr).to.equal(0);
    expect(
      (JSON.parse(list.stdout) as { id: string; identity: string }[]).map((r) => [r.id, r.identity]),
    ).to.deep.include([asked.id, "alice"]);
    const approve = await runCli([
      "requests",
      "approve",
      asked.id,
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
    ]);
    expect(approve.code, approve.stderr).to.equal(0);

    const done = await client.certificateRequest(asked.id);
    expect(done.status).to.equal("issued");
    expect(done.certificate).to.match(/^-----BEGIN CERTIFICATE-----/);
    expect(await verifiedByOpenssl(ca, done.certificate as string)).to.equal(true);
    const me = await client.me();
    expect(me.certificates).to.include(done.certificate);
    const again = await runCli([
      "requests",
      "approve",
      asked.id,
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
    ]);
    expect(again.code).to.equal(1);
  });

  it("refuses a CSR for another identity, garbage, and a second pending request, writing nothing", async function () {
    const bob = await ca.issueClient("bob");
    const client = server.client(bob, { retries: 0 });
    const before = await count(ca, "certificate_requests");
    const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
      p.then(
        () => undefined,
        (err: unknown) => (err instanceof ServerError ? err.code : String(err)),
      );
    expect(await codeOf(client.requestCertificate(await newCsr(ca, "alice")))).to.equal("csr_rejected");
    expect(
      await codeOf(
        client.requestCertificate(
          "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n",
        ),
      ),
    ).to.equal("csr_rejected");
    expect(await count(ca, "certificate_requests")).to.equal(before);
    expect((await client.requestCertificate(await newCsr(ca, "bob"))).status).to.equal("pending");
    expect(await codeOf(client.requestCertificate(await newCsr(ca, "bob")))).to.equal("conflict");
    expect(await count(ca, "certificate_requests")).to.equal(before + 1);
  });

  it("a request filed with a certificate revoked since (reported stolen) is rejected, not approved", async function () {
    const eve = await ca.issueClient("eve");
    const asked = await server.client(eve).requestCertificate(await newCsr(ca, "eve"));
    expect(asked.status).to.equal("pending");
    await ca.revoke(eve.serial, "keyCompromise");
    const approve = await runCli([
      "requests",
      "approve",
      asked.id,
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
    ]);
    expect(approve.code).to.equal(1);
    expect(approve.stderr).to.match(/no longer active; it is rejected/);
    const row = (await ca.db("certificate_requests").where({ id: asked.id }).first("status", "serial")) as {
      status: string;
      serial: string | null;
    };
    expect(row).to.deep.equal({ status: "rejected", serial: null });
    expect(await ca.db("certificates").where({ identity: "eve" }).pluck("serial")).to.deep.equal([eve.serial]); // nothing new issued
  });

  it("another identity cannot see a request (404, as for a missing one)", async function () {
    const carol = await ca.issueClient("carol");
    const asked = await server.client(carol).requestCertificate(await newCsr(ca, "carol"));
    const dave = server.client(await ca.issueClient("dave"), { retries: 0 });
    const err = await dave.certificateRequest(asked.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as ServerError).code).to.equal("not_found");
  });
});

describe("renewal: auto policy", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, config: { renewal: "auto" } });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("issues at once; the new certificate works for mTLS with the new key", async function () {
    const alice = await ca.issueClient("alice");
    const view = await server.client(alice).requestCertificate(await newCsr(ca, "alice"));
    expect(view.status).to.equal("issued");
    expect(await verifiedByOpenssl(ca, view.certificate as string)).to.equal(true);
    const withNewKey = server.client({
      certPem: view.certificate as string,
      key: await new FileKeyStore(lastKeyPath).load(() => NEW_KEY_PASSPHRASE),
    });
    const me = await withNewKey.me();
    expect(me.identity).to.equal("alice");
    expect(me.serial).to.equal(view.serial);
    // The attempt, then the answer.
    const audit = await ca
      .db("audit_entries")
      .where({ actor: "alice", action: "certificates.request" })
      .orderBy("seq")
      .select("status");
    expect(audit.map((a: { status: number }) => a.status)).to.deep.equal([0, 201]);
  });
});
