/**
 * The audit key of a CA in a PKCS#11 token lives in that token too (SoftHSM2, a fresh process token): the server
 * makes it there at its first start (P-256, sensitive, never extractable), writes only its public half to
 * HOME/audit/audit.pub, and signs every checkpoint in the token; `certvault audit verify` (no PIN, no passphrase)
 * accepts them, and still names an entry that was altered. A second start finds the same key again.
 */
import { expect } from "chai";
import { createPublicKey } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, TempDirs } from "../helpers/cli.js";
import { curl } from "../helpers/curl.js";
import { backendCa } from "../helpers/ca-backend.js";
import type { BackendCa } from "../helpers/ca-backend.js";
import { startServerProcess, stopServerProcess } from "../helpers/server-process.js";
import type { Pkcs11Record } from "../../src/ca/pkcs11-record.js";
import type { TestIdentity } from "../../src/testing/index.js";
import { hasPkcs11Tool, makeSoftHsmToken, pkcs11ToolOrSkip, softHsmOrSkip } from "./softhsm.js";
import type { SoftHsmToken, TokenRef } from "./softhsm.js";
import { tokenPrivateKeys, tokenPublicKeyPem } from "./pkcs11-tool.js";
import { openssl } from "../helpers/openssl.js";
import { checkpointMessage } from "../../src/audit/chain.js";

describe("audit checkpoints signed by a key in the CA's PKCS#11 token (SoftHSM2)", function () {
  this.timeout(120_000);
  const tmp = new TempDirs();
  let b: BackendCa | undefined;
  let token: TokenRef;
  let alice: TestIdentity;

  /** One server run: `n` requests by alice (one audit entry each), then stop (a last checkpoint over everything). */
  async function serve(n: number): Promise<void> {
    const { ca, h } = b as BackendCa;
    const server = await startServerProcess(ca, {
      ...h.env,
      CERTVAULT_PKCS11_PIN: token.pin,
      CERTVAULT_AUDIT_CHECKPOINT_EVERY: "3",
    });
    try {
      for (let i = 0; i < n; i++)
        expect((await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: alice })).status).to.equal(200);
    } finally {
      await stopServerProcess(server);
    }
  }

  /** `audit verify` as an operator runs it: no PIN, no passphrase, no token configuration in its environment. */
  const verify = () =>
    runCli(["audit", "verify", ...(b as BackendCa).ca.cliArgs], {
      env: { CERTVAULT_PKCS11_PIN: "", CERTVAULT_PKCS11_PIN_FILE: "", CERTVAULT_PASSPHRASE: "" },
    });
  const auditLabel = (): string =>
    `certvault audit ${(JSON.parse(readFileSync(join((b as BackendCa).ca.paths.dir, "pkcs11.json"), "utf8")) as Pkcs11Record).keys.intermediate.label.split(" ")[2]}`;

  before(async function () {
    b = await backendCa(this, "softhsm2", { name: "Audit HSM" });
    token = b.token as TokenRef;
    alice = await b.ca.issueClient("alice");
  });
  after(async () => {
    tmp.cleanup();
    await b?.ca.cleanup();
  });

  it("first start: the key is made in the token, audit.pub is written, no audit.key; audit verify accepts the checkpoints", async () => {
    const { ca } = b as BackendCa;
    const audit = join(ca.home, "audit");
    expect(existsSync(join(audit, "audit.key")), "no audit key before the server starts").to.equal(false);
    await serve(7);
    expect(readdirSync(audit).sort()).to.deep.equal(["anchor.json", "audit.pub", "checkpoints.log"]);
    expect(
      (readdirSync(ca.home, { recursive: true }) as string[]).filter((f) => /(^|\/)audit\.key$/.test(f)),
      "audit.key anywhere under HOME",
    ).to.deep.equal([]);
    const r = await verify();
    expect(r.code, r.stderr).to.equal(0);
    const m = /^ok (\d+) entries \((\d+) signed checkpoints\)/.exec(r.stdout);
    expect(m, r.stdout).to.not.equal(null);
    expect(Number(m?.[1])).to.be.at.least(7);
    expect(Number(m?.[2])).to.be.at.least(1);
  });

  it("openssl verifies the newest checkpoint's signature (made in the token) against audit.pub", async () => {
    const { ca } = b as BackendCa;
    const a = JSON.parse(readFileSync(join(ca.home, "audit", "anchor.json"), "utf8")) as {
      seq: number;
      hash: string;
      time: string;
      signature: string;
    };
    const dir = tmp.make();
    const msg = join(dir, "checkpoint.txt");
    const sig = join(dir, "checkpoint.sig");
    writeFileSync(msg, checkpointMessage(a.seq, a.hash, new Date(a.time)));
    writeFileSync(sig, Buffer.from(a.signature, "base64"));
    const pub = join(ca.home, "audit", "audit.pub");
    const ok = await openssl(["dgst", "-sha256", "-verify", pub, "-signature", sig, msg]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/Verified OK/);
    writeFileSync(msg, checkpointMessage(a.seq + 1, a.hash, new Date(a.time)));
    const bad = await openssl(["dgst", "-sha256", "-verify", pub, "-signature", sig, msg]);
    expect(bad.code, "a checkpoint for another seq").to.not.equal(0);
  });

  it("pkcs11-tool: the token holds the audit private key, sensitive and never extractable, matching audit.pub", async function () {
    pkcs11ToolOrSkip(this);
    const { ca } = b as BackendCa;
    const keys = await tokenPrivateKeys(token);
    expect(keys, "the root, intermediate and audit keys").to.have.length(3);
    const auditKeys = keys.filter((k) => k.label === auditLabel());
    expect(auditKeys, keys.map((k) => k.label).join(", ")).to.have.length(1);
    const key = auditKeys[0] as (typeof keys)[number];
    expect(key.access).to.include.members(["sensitive", "always sensitive", "never extractable"]);
    expect(key.access).not.to.include("extractable");
    const pem = await tokenPublicKeyPem(token, key.id, tmp.make());
    expect(
      createPublicKey(pem)
        .export({ format: "der", type: "spki" })
        .equals(
          createPublicKey(readFileSync(join(ca.home, "audit", "audit.pub"), "utf8")).export({
            format: "der",
            type: "spki",
          }),
        ),
    ).to.equal(true);
  });

  it("a second start signs with the same token key: audit.pub unchanged, still one audit key, verify accepts both runs", async () => {
    const { ca } = b as BackendCa;
    const pub = readFileSync(join(ca.home, "audit", "audit.pub"), "utf8");
    await serve(4);
    expect(readFileSync(join(ca.home, "audit", "audit.pub"), "utf8")).to.equal(pub);
    const r = await verify();
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^ok \d+ entries/);
    if (hasPkcs11Tool()) {
      expect((await tokenPrivateKeys(token)).filter((k) => k.label === auditLabel())).to.have.length(1);
    }
  });

  it("an altered entry still fails audit verify, naming it", async () => {
    const { ca } = b as BackendCa;
    await ca.db("audit_entries").where({ seq: 5 }).update({ actor: "mallory" });
    const r = await verify();
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stderr).to.match(/entry 5 was altered/);
    expect(r.stdout).to.not.match(/^ok/);
  });
});

describe("ca init --pkcs11-* makes no audit key file (SoftHSM2)", function () {
  this.timeout(60_000);
  const tmp = new TempDirs();
  let token: SoftHsmToken | undefined;
  after(() => {
    tmp.cleanup();
    token?.cleanup();
  });

  it("HOME/audit holds no audit.key after init: the server makes the audit key in the token at its first start", async function () {
    token = makeSoftHsmToken(softHsmOrSkip(this), "cv-audit-init");
    const dir = tmp.make();
    const passFile = join(dir, "pass");
    writeFileSync(passFile, "a long CA passphrase\n", { mode: 0o600 });
    const home = join(dir, "home");
    const r = await runCli(
      [
        "ca",
        "init",
        "--home",
        home,
        "--passphrase-file",
        passFile,
        "--pkcs11-module",
        token.module,
        "--pkcs11-token",
        token.label,
        "--pkcs11-pin-file",
        token.pinFile,
      ],
      { env: token.env },
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(join(home, "audit", "audit.key"))).to.equal(false);
  });
});
