/**
 * How `ca init` stored the CA keys, the part of test/ca/init.test.ts that differs by backend. Key files: encrypted
 * PKCS#8 that openssl opens with the passphrase only (PBES2, PBKDF2-HMAC-SHA256 >= 600k, AES-256-CBC). A token: no
 * key material under HOME/ca, pkcs11.json says where the keys are (never the PIN), and pkcs11-tool finds exactly
 * those two keys in the token, sensitive and never extractable, with the certificates' public keys.
 */
import { expect } from "chai";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { inParallel } from "../helpers/cli.js";
import type { RunResult } from "../helpers/cli.js";
import { openssl, opensslOk } from "../helpers/openssl.js";
import { TEST_PASSPHRASE } from "../helpers/ca-fixture.js";
import { pkcs11ToolOrSkip } from "../hsm/softhsm.js";
import type { TokenRef } from "../hsm/softhsm.js";
import { tokenPrivateKeys, tokenPublicKeyPem } from "../hsm/pkcs11-tool.js";
import type { Pkcs11Record } from "../../src/ca/pkcs11-record.js";

/** One `ca init` run, as the before hooks of init.test.ts leave it. */
export interface InitRun {
  caDir: string;
  passFile: string;
  init: RunResult;
  /** The token given to `ca init --pkcs11-*` (softhsm2). */
  token?: TokenRef;
  /** A directory for scratch files. */
  dir: string;
}

const certPubkey = (caDir: string, name: string): Promise<string> =>
  opensslOk(["x509", "-in", join(caDir, `${name}.crt`), "-noout", "-pubkey"]);

/** The keys as encrypted PKCS#8 files under HOME/ca. */
export function fileKeyTests(run: () => InitRun): void {
  it("writes the keys as ENCRYPTED PRIVATE KEY PEM with mode 0600", () => {
    const { caDir } = run();
    for (const f of ["root.key", "intermediate.key"]) {
      expect(statSync(join(caDir, f)).mode & 0o777, f).to.equal(0o600);
      expect(readFileSync(join(caDir, f), "utf8").startsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), f).to.equal(
        true,
      );
    }
  });

  it("lets openssl open each key with the passphrase, and only with it; the key matches its certificate", async () => {
    const { caDir, passFile } = run();
    // Each attempt costs a full PBKDF2 run in openssl: run them side by side, wrong guesses on one key only.
    const key = (name: string) => join(caDir, `${name}.key`);
    const [rootOk, intOk, rootNone, intNone, empty, wrong] = await inParallel([
      () => openssl(["pkey", "-in", key("root"), "-passin", `file:${passFile}`, "-pubout"]),
      () => openssl(["pkey", "-in", key("intermediate"), "-passin", `file:${passFile}`, "-pubout"]),
      () => openssl(["pkey", "-in", key("root"), "-noout"]),
      () => openssl(["pkey", "-in", key("intermediate"), "-noout"]),
      () => openssl(["pkey", "-in", key("intermediate"), "-passin", "pass:", "-noout"]),
      () => openssl(["pkey", "-in", key("intermediate"), "-passin", `pass:${TEST_PASSPHRASE}x`, "-noout"]),
    ]);
    for (const [name, ok] of [
      ["root", rootOk],
      ["intermediate", intOk],
    ] as const) {
      expect(ok?.code, ok?.stderr).to.equal(0);
      expect(ok?.stdout, `${name}.key matches ${name}.crt`).to.equal(await certPubkey(caDir, name));
    }
    expect(rootNone?.code, "root, no passphrase").to.not.equal(0);
    expect(intNone?.code, "intermediate, no passphrase").to.not.equal(0);
    expect(empty?.code, "empty passphrase").to.not.equal(0);
    expect(wrong?.code, "wrong passphrase").to.not.equal(0);
  });

  it("encrypts with PBES2 / PBKDF2 hmacWithSHA256 (>= 600,000 iterations) / aes-256-cbc", async () => {
    const { caDir } = run();
    for (const name of ["root", "intermediate"]) {
      const asn = await opensslOk(["asn1parse", "-in", join(caDir, `${name}.key`)]);
      for (const oid of [":PBES2", ":PBKDF2", ":hmacWithSHA256", ":aes-256-cbc"])
        expect(asn, `${name} ${oid}`).to.include(oid);
      const iterations = /prim: INTEGER\s+:([0-9A-F]+)/.exec(asn)?.[1];
      expect(iterations, "iteration count").to.be.a("string");
      expect(parseInt(iterations as string, 16)).to.be.at.least(600_000);
    }
  });
}

/** The keys inside the token named by `ca init --pkcs11-*`. */
export function tokenKeyTests(run: () => InitRun): void {
  const record = (caDir: string): Pkcs11Record =>
    JSON.parse(readFileSync(join(caDir, "pkcs11.json"), "utf8")) as Pkcs11Record;

  it("keeps no key material under HOME/ca; pkcs11.json names the module, the token and both keys, never the PIN", () => {
    const { caDir, init, token } = run();
    const t = token as TokenRef;
    expect(init.stdout).to.include(`keys in PKCS#11 token "${t.label}"`);
    for (const f of readdirSync(caDir)) expect(readFileSync(join(caDir, f), "utf8"), f).to.not.match(/PRIVATE KEY/);
    const rec = record(caDir);
    expect(rec).to.include({ version: 1, module: t.module, tokenLabel: t.label });
    expect(rec.tokenSerial).to.match(/^[0-9a-f]{8,}$/i);
    expect(rec.keys.root.label).to.match(/^certvault root /);
    expect(rec.keys.intermediate.label).to.match(/^certvault intermediate /);
    expect(rec.keys.root.id)
      .to.match(/^[0-9a-f]+$/)
      .and.not.equal(rec.keys.intermediate.id);
    expect(readFileSync(join(caDir, "pkcs11.json"), "utf8")).to.not.include(t.pin);
  });

  it("pkcs11-tool: the token holds exactly those two keys, sensitive and never extractable, with the certificates' public keys", async function () {
    pkcs11ToolOrSkip(this);
    const { caDir, token, dir } = run();
    const t = token as TokenRef;
    const rec = record(caDir);
    const keys = await tokenPrivateKeys(t);
    expect(keys.map((k) => `${k.label}/${k.id}`).sort()).to.deep.equal(
      [rec.keys.intermediate, rec.keys.root].map((k) => `${k.label}/${k.id}`).sort(),
    );
    for (const k of keys) {
      expect(k.access, k.label).to.include.members(["sensitive", "always sensitive", "never extractable"]);
      expect(k.access, k.label).not.to.include("extractable");
    }
    for (const name of ["root", "intermediate"] as const) {
      expect(
        await tokenPublicKeyPem(t, rec.keys[name].id, dir),
        `${name}'s key in the token is ${name}.crt's`,
      ).to.equal(await certPubkey(caDir, name));
    }
  });
}
