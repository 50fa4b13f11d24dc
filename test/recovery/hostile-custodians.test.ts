/**
 * "K of N, no master key" holds only if the N shares go to N different people: `recovery init` refuses any custodian
 * set in which one person (one identity, or one key) would hold two shares, and any custodian certificate that is not
 * an active client certificate of this CA that a share can be sealed to. Every refusal is exit 1, names the offending
 * certificate, and happens before anything is issued or written.
 */
import { expect } from "chai";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { RECOVERY_IDENTITY } from "../../src/ca/profiles.js";
import { runCli } from "../helpers/cli.js";
import { opensslOk } from "../helpers/openssl.js";

describe("recovery init: hostile custodian sets", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let ann: TestIdentity;
  let ben: TestIdentity;
  let cid: TestIdentity;

  const init = (files: string[], threshold: string): ReturnType<typeof runCli> =>
    runCli([
      "recovery",
      "init",
      ...files.flatMap((f) => ["--custodian", f]),
      "--threshold",
      threshold,
      "--wait-hours",
      "0",
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
    ]);

  /** A refusal: exit 1, the offending file named, and no recovery certificate issued or written. */
  async function expectRefused(files: string[], threshold: string, offending: string, reason: RegExp): Promise<void> {
    const recoveryRows = () => ca.db("certificates").where({ identity: RECOVERY_IDENTITY }).pluck("serial");
    const before = await recoveryRows();
    const r = await init(files, threshold);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.include(offending);
    expect(r.stderr).to.match(reason);
    expect(existsSync(join(ca.home, "ca", "recovery.crt")), "recovery.crt written").to.equal(false);
    expect(await recoveryRows(), "a recovery certificate was issued").to.deep.equal(before);
  }

  /** A certificate of this CA, issued from a CSR for an existing key (openssl makes the CSR), under another name. */
  async function issueForKey(keyPath: string, name: string): Promise<string> {
    const csr = await opensslOk(["req", "-new", "-key", keyPath, "-subj", `/CN=${name}`]);
    const issued = await ca.authority.issueFromCsr(csr, { profile: "client", days: 30 });
    const file = join(ca.home, `${name}.crt`);
    writeFileSync(file, issued.pem);
    return file;
  }

  before(async function () {
    ca = await createTestCA();
    [ann, ben, cid] = (await Promise.all(["ann", "ben", "cid"].map((n) => ca.issueClient(n)))) as [
      TestIdentity,
      TestIdentity,
      TestIdentity,
    ];
  });
  after(async function () {
    await ca.cleanup();
  });
  // A set that is wrongly accepted must not leave recovery set up for the next test (each test fails on its own).
  afterEach(async function () {
    for (const c of await ca.authority.list())
      if (c.identity === RECOVERY_IDENTITY && c.storedStatus === "active") await ca.revoke(c.serial);
    for (const f of ["recovery.crt", "recovery-policy.json"]) rmSync(join(ca.home, "ca", f), { force: true });
    rmSync(join(ca.home, "recovery"), { recursive: true, force: true });
  });

  it("refuses the same custodian certificate given twice", async function () {
    await expectRefused([ann.certPath, ben.certPath, ann.certPath], "2", ann.certPath, /ann.*(same|twice|already)/i);
  });

  it("refuses two certificates of one identity (one person, two shares)", async function () {
    const ann2 = await ca.issueClient("ann");
    await expectRefused([ann.certPath, ann2.certPath, ben.certPath], "2", ann2.certPath, /"ann"/);
  });

  it("refuses two certificates of one key under two names", async function () {
    const alias = await issueForKey(ann.keyPath, "ann-alias");
    await expectRefused([ann.certPath, ben.certPath, alias], "2", alias, /same key/i);
  });

  it("refuses a revoked custodian", async function () {
    const dan = await ca.issueClient("dan");
    await ca.revoke(dan, "keyCompromise");
    await expectRefused([ann.certPath, dan.certPath], "2", dan.certPath, /revoked/);
  });

  it("refuses a custodian of another CA, even one that copies a custodian's name", async function () {
    const foreign = await ca.foreign();
    try {
      const fakeBen = await foreign.issueClient("ben");
      await expectRefused([ann.certPath, fakeBen.certPath], "2", fakeBen.certPath, /does not chain to this CA/);
    } finally {
      await foreign.cleanup();
    }
  });

  it("refuses a self-signed custodian", async function () {
    const file = join(ca.home, "self.crt");
    await opensslOk([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(ca.home, "self.key"),
      "-subj",
      "/CN=sam",
      "-days",
      "30",
      "-addext",
      "keyUsage=digitalSignature,keyAgreement",
      "-addext",
      "extendedKeyUsage=clientAuth",
      "-out",
      file,
    ]);
    await expectRefused([ann.certPath, file, ben.certPath], "2", file, /does not chain to this CA/);
  });

  it("refuses a certificate of ours left out of the registry, and one that is not for client authentication", async function () {
    const ghost = await ca.issueClient("ghost", { unregistered: true });
    await expectRefused([ann.certPath, ghost.certPath], "2", ghost.certPath, /registry/);
    const server = await ca.issueServer("srv.example");
    await expectRefused([ann.certPath, server.certPath], "2", server.certPath, /client/);
  });

  it("refuses a key the shares cannot be sealed to (RSA-1024: signed by our CA and registered, outside the key table)", async function () {
    const weak = await ca.issueClient("pat", { keyType: "rsa-1024" });
    await expectRefused([ann.certPath, weak.certPath], "2", weak.certPath, /key cannot be sealed to: .*RSA-1024/);
  });

  it("accepts a P-521 custodian: every key type the CA issues can hold a share", async function () {
    const key = join(ca.home, "p521.key");
    await opensslOk(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", key]);
    const file = await issueForKey(key, "pia");
    const r = await init([ann.certPath, file], "2");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('"pia"');
  });

  it("refuses a threshold above the number of custodians (exit 1), and a threshold under 2 (usage, exit 2)", async function () {
    await expectRefused([ann.certPath, ben.certPath, cid.certPath], "4", "--threshold 4", /3 custodians/);
    const one = await init([ann.certPath, ben.certPath], "1");
    expect(one.code, one.stderr).to.equal(2);
  });

  it("accepts 3 distinct custodians and names each (identity and fingerprint) on stderr; stdout is as before", async function () {
    const r = await init([ann.certPath, ben.certPath, cid.certPath], "2");
    expect(r.code, r.stderr).to.equal(0);
    for (const c of [ann, ben, cid]) {
      const fp = (await opensslOk(["x509", "-in", c.certPath, "-noout", "-fingerprint", "-sha256"]))
        .split("=")[1]
        ?.trim()
        .replace(/:/g, "")
        .toLowerCase();
      expect(r.stderr)
        .to.include(`"${c.name}"`)
        .and.to.include(fp as string);
    }
    expect(r.stdout).to.match(
      /^recovery certificate .*recovery\.crt \(serial [0-9a-f]+\); 3 shares, any 2 rebuild the key:\n/,
    );
    expect(readFileSync(join(ca.home, "ca", "recovery.crt"), "utf8")).to.match(/BEGIN CERTIFICATE/);
  });
});
