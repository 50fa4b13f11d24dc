/**
 * Recovery without a back door: the recovery key exists only as custodian shares (each sealed to a custodian's
 * certificate, opened here with openssl); with K of N shares, after a request and its waiting period, a user who lost
 * their key gets every record stored since recovery was set up back under a new certificate; with fewer, nothing
 * happens; the audit trail shows it all.
 */
import { expect } from "chai";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { inspect } from "../../src/envelope/index.js";
import { runCli } from "../helpers/cli.js";
import { openssl, pemToDer } from "../helpers/openssl.js";
import { MemoryTrustState } from "../../src/client-sdk/index.js";
import { X509Certificate, createHash } from "node:crypto";

describe("recovery of a lost key (2 of 3 custodians)", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let earlyId: string;
  let renewed: TestIdentity;
  const custodians: TestIdentity[] = [];
  const opened: string[] = [];

  const aliceTrust = new MemoryTrustState();
  const recoveryFingerprint = (): string =>
    createHash("sha256")
      .update(new X509Certificate(readFileSync(join(ca.home, "ca", "recovery.crt"))).raw)
      .digest("hex");
  const admin = (args: string[]): ReturnType<typeof runCli> =>
    runCli([...args, ...ca.cliArgs, "--passphrase-file", ca.passphraseFile]);

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    earlyId = await server.client(alice).put(new TextEncoder().encode("stored before recovery existed"));
    for (const name of ["custodian-ann", "custodian-ben", "custodian-cid"]) custodians.push(await ca.issueClient(name));
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("init writes the recovery certificate and one sealed share per custodian, and no private key anywhere", async function () {
    // A drill: no waiting period fixed at init (production keeps the 24 h default, which `recover` cannot shorten).
    const init = await admin([
      "recovery",
      "init",
      ...custodians.flatMap((c) => ["--custodian", c.certPath]),
      "--threshold",
      "2",
      "--wait-hours",
      "0",
    ]);
    expect(init.code, init.stderr).to.equal(0);
    const shareFiles = readdirSync(join(ca.home, "recovery")).sort();
    expect(shareFiles).to.have.length(3);
    for (const f of shareFiles)
      expect(readFileSync(join(ca.home, "recovery", f)).includes(Buffer.from("PRIVATE KEY"))).to.equal(false);
    const verify = await openssl([
      "verify",
      "-CAfile",
      ca.paths.rootCert,
      "-untrusted",
      ca.paths.intermediateCert,
      join(ca.home, "ca", "recovery.crt"),
    ]);
    expect(verify.code, verify.stderr).to.equal(0);
    // Each custodian opens their own share with their own key; openssl is the tool.
    for (const [i, f] of shareFiles.entries()) {
      const out = join(ca.home, `opened-${i}.bin`);
      const c = custodians.find((x) => f.includes(x.name)) as TestIdentity;
      const r = await openssl([
        "cms",
        "-decrypt",
        "-binary",
        "-inform",
        "DER",
        "-in",
        join(ca.home, "recovery", f),
        "-inkey",
        c.keyPath,
        "-recip",
        c.certPath,
        "-out",
        out,
      ]);
      expect(r.code, r.stderr).to.equal(0);
      opened.push(out);
    }
    // Another custodian's key does not open a share.
    const wrong = await openssl([
      "cms",
      "-decrypt",
      "-binary",
      "-inform",
      "DER",
      "-in",
      join(ca.home, "recovery", shareFiles[0] as string),
      "-inkey",
      (custodians[2] as TestIdentity).keyPath,
      "-recip",
      (custodians[2] as TestIdentity).certPath,
    ]);
    expect(wrong.code).to.not.equal(0);
  });

  it("from then on every record is also sealed to the recovery certificate, by the SDK and by the server", async function () {
    // The SDK seals to a recovery certificate only once its user pinned it (the fingerprint the admin hands out).
    const unpinned = server.client(alice);
    expect(
      await unpinned.put(new TextEncoder().encode("x")).then(
        () => "stored",
        (e: { code?: string }) => e.code,
      ),
    ).to.equal("recovery_not_pinned");
    const client = server.client(alice, { trustState: aliceTrust });
    const pinned = await client.pinRecovery(recoveryFingerprint());
    expect(pinned.fingerprint).to.equal(recoveryFingerprint());
    for (let i = 0; i < 20; i++) await client.put(new TextEncoder().encode(`record ${i}`));
    expect((await client.me()).recovery).to.match(/^-----BEGIN CERTIFICATE-----/);
    const { request, Agent } = await import("node:https");
    const agent = new Agent({ ca: ca.rootPem, cert: alice.certPem, key: alice.keyPem });
    await new Promise<void>((resolve, reject) => {
      const req = request(
        `${server.url}/v1/records`,
        { method: "POST", agent },
        (res) => (res.resume(), res.on("end", () => resolve())),
      );
      req.on("error", reject);
      req.end("sealed by the server");
    });
    agent.destroy();
    const rows = (await ca.db("records").where({ owner: "alice" }).whereNot({ id: earlyId }).select("envelope")) as {
      envelope: Buffer;
    }[];
    expect(rows).to.have.length(21);
    for (const r of rows) expect(inspect(new Uint8Array(r.envelope)).recipients.total).to.equal(2);
  });

  it("a record stored before recovery existed can still be shared and rotated: it gets the recovery recipient then", async function () {
    const client = server.client(alice, { trustState: aliceTrust });
    await client.share(earlyId, "custodian-ann");
    const env = (await ca.db("records").where({ id: earlyId }).first("envelope")) as { envelope: Buffer };
    expect(inspect(new Uint8Array(env.envelope)).recipients.total).to.equal(3); // alice, ann, recovery
    await client.unshare(earlyId, "custodian-ann");
  });

  it("the SDK refuses a recovery certificate that is not ours, even with the reserved name", async function () {
    const foreign = await ca.foreign();
    try {
      const fake = await foreign.issueClient("certvault-recovery");
      const { createServer } = await import("node:https");
      const { decryptPrivateKey } = await import("../../src/keys/encrypted-pkcs8.js");
      const key = decryptPrivateKey(readFileSync(join(ca.home, "server", "server.key"), "utf8"), ca.passphrase).export({
        format: "pem",
        type: "pkcs8",
      });
      let writes = 0;
      const crl = pemToDer(await ca.crl());
      const evil = createServer(
        {
          key,
          cert: readFileSync(join(ca.home, "server", "server.crt"), "utf8") + ca.intermediatePem,
          ca: ca.rootPem + ca.intermediatePem,
          requestCert: true,
        },
        (req, res) => {
          if (req.method !== "GET") writes++;
          if (req.url === "/v1/crl")
            return void res.writeHead(200, { "content-type": "application/pkix-crl" }).end(crl);
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              identity: "alice",
              serial: alice.serial,
              notAfter: "",
              certificates: [alice.certPem],
              recovery: fake.certPem,
            }),
          );
        },
      );
      await new Promise<void>((r) => evil.listen(0, "127.0.0.1", () => r()));
      const { CertvaultClient, MemoryTrustState } = await import("../../src/client-sdk/index.js");
      const url = `https://127.0.0.1:${(evil.address() as { port: number }).port}`;
      // Pinning it is refused (it does not chain to our root), and a client that pinned ours refuses the swap.
      const fresh = new CertvaultClient({
        server: url,
        caPem: ca.rootPem,
        certPem: alice.certPem,
        key: alice.key,
        retries: 0,
      });
      const pinnedOurs = new CertvaultClient({
        server: url,
        caPem: ca.rootPem,
        certPem: alice.certPem,
        key: alice.key,
        retries: 0,
        trustState: new MemoryTrustState({ recoveryFingerprint: recoveryFingerprint() }),
      });
      try {
        const fakeFp = createHash("sha256").update(new X509Certificate(fake.certPem).raw).digest("hex");
        const pinErr = await fresh.pinRecovery(fakeFp).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((pinErr as { code?: string } | undefined)?.code).to.equal("untrusted_certificate");
        const err = await pinnedOurs.put(new TextEncoder().encode("secret")).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((err as { code?: string } | undefined)?.code).to.equal("recovery_not_pinned");
        expect((err as Error).message).to.match(/not the pinned/);
        expect(writes).to.equal(0);
      } finally {
        fresh.close();
        pinnedOurs.close();
        evil.closeAllConnections();
        evil.close();
      }
    } finally {
      await foreign.cleanup();
    }
  });

  it("refuses without a request, before the waiting period, and with fewer than 2 shares; changes nothing", async function () {
    const versionsBefore = await ca.db("records").where({ owner: "alice" }).orderBy("id").pluck("version");
    renewed = await ca.issueClient("alice"); // the new key and certificate after the loss
    writeFileSync(join(ca.home, "alice-new.pem"), renewed.certPem);
    const recover = (shares: string[], wait = "0") =>
      admin([
        "recover",
        "--identity",
        "alice",
        "--to-cert",
        join(ca.home, "alice-new.pem"),
        ...shares.flatMap((s) => ["--share", s]),
        "--wait-hours",
        wait,
      ]);
    const noRequest = await recover(opened.slice(0, 2));
    expect(noRequest.code).to.equal(1);
    expect(noRequest.stderr).to.match(/no recovery request/);
    expect((await admin(["recovery", "request", "--identity", "alice"])).code).to.equal(0);
    const tooSoon = await recover(opened.slice(0, 2), "24");
    expect(tooSoon.code).to.equal(1);
    expect(tooSoon.stderr).to.match(/waiting period/);
    // A look-alike of the new certificate (same CN, same serial, someone else's key) is refused.
    const forged = join(ca.home, "forged.pem");
    const f = await openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(ca.home, "forged.key"),
      "-subj",
      "/CN=alice",
      "-set_serial",
      `0x${renewed.serial}`,
      "-days",
      "1",
      "-out",
      forged,
    ]);
    expect(f.code, f.stderr).to.equal(0);
    const lookalike = await admin([
      "recover",
      "--identity",
      "alice",
      "--to-cert",
      forged,
      ...opened.slice(0, 2).flatMap((x) => ["--share", x]),
      "--wait-hours",
      "0",
    ]);
    expect(lookalike.code).to.equal(1);
    expect(lookalike.stderr).to.match(/not an active certificate of "alice"/);
    const oneShare = await recover(opened.slice(0, 1));
    expect(oneShare.code).to.equal(1);
    expect(oneShare.stderr).to.match(/shares/);
    expect(await ca.db("records").where({ owner: "alice" }).orderBy("id").pluck("version")).to.deep.equal(
      versionsBefore,
    );
  });

  it("with 2 shares, gets the records back under the new certificate; the audit trail shows the recovery", async function () {
    const r = await admin([
      "recover",
      "--identity",
      "alice",
      "--to-cert",
      join(ca.home, "alice-new.pem"),
      "--share",
      opened[2] as string,
      "--share",
      opened[0] as string,
      "--wait-hours",
      "0",
      "--json",
    ]);
    expect(r.code, r.stderr).to.equal(0);
    // 21 stored after recovery was set up, plus the early one, which got the recovery recipient when it was shared.
    expect(JSON.parse(r.stdout)).to.deep.equal({ rewrapped: 22, skipped: 0, notRecoverable: 0 });
    // The new key opens every recovered record, through the API (the SDK) and by openssl.
    const client = server.client(renewed);
    const ids = (await ca.db("records").where({ owner: "alice" }).whereNot({ id: earlyId }).pluck("id")) as string[];
    for (const id of ids)
      expect(new TextDecoder().decode(await client.get(id))).to.match(/^(record \d+|sealed by the server)$/);
    const env = join(ca.home, "recovered.der");
    writeFileSync(env, await client.getEnvelope(ids[0] as string));
    const dec = await openssl([
      "cms",
      "-decrypt",
      "-binary",
      "-inform",
      "DER",
      "-in",
      env,
      "-inkey",
      renewed.keyPath,
      "-recip",
      renewed.certPath,
    ]);
    expect(dec.code, dec.stderr).to.equal(0);
    expect(new TextDecoder().decode(await client.get(earlyId))).to.equal("stored before recovery existed");
    const audit = (await ca
      .db("audit_entries")
      .whereIn("action", ["recovery.request", "recovery.recover"])
      .orderBy("seq")
      .select("action", "detail")) as { action: string; detail: string }[];
    const seen = audit.map((a) => `${a.action}:${(JSON.parse(a.detail) as { phase: string }).phase}`);
    expect(seen).to.include.members(["recovery.request:done", "recovery.recover:done"]);
    expect(
      audit
        .filter((a) => a.action === "recovery.recover")
        .map((a) => (JSON.parse(a.detail) as { phase: string }).phase),
    ).to.include("failed"); // the refused attempts are there too
  });
});
