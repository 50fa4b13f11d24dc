/**
 * A CA whose keys live in a PKCS#11 token (SoftHSM2, a throwaway token per run), driven through the CLI as an
 * operator would: `ca init --pkcs11-*`, `ca issue` from an openssl CSR, `ca revoke`, `ca crl`, and the server
 * signing its own certificate and CRLs through the token. OpenSSL checks every signature; pkcs11-tool (opensc)
 * checks that the private keys are sensitive and never extractable; nothing key-like is under HOME/ca.
 * Without SoftHSM2 the suite is skipped with the reason (CI installs it: .ci/run).
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_ENTRY, cliEnv, REPO_ROOT, runCli, runProcess, TempDirs } from "../helpers/cli.js";
import { openssl, opensslOk } from "../helpers/openssl.js";
import { findSoftHsm, hasPkcs11Tool, makeSoftHsmToken } from "./softhsm.js";
import type { SoftHsmToken } from "./softhsm.js";

const PASSPHRASE = "a long CA passphrase for the audit key";

/** Private key objects as pkcs11-tool lists them: label and the "Access:" flags. */
function privateKeysOf(listing: string): { label: string; access: string[] }[] {
  const keys: { label: string; access: string[] }[] = [];
  let current: { label: string; access: string[] } | undefined;
  for (const line of listing.split("\n")) {
    if (/^Private Key Object/.test(line)) {
      current = { label: "", access: [] };
      keys.push(current);
    } else if (/^\S/.test(line)) {
      current = undefined;
    } else if (current) {
      const m = /^\s+(label|Access):\s*(.*)$/.exec(line);
      if (m?.[1] === "label") current.label = (m[2] ?? "").trim();
      if (m?.[1] === "Access") current.access = (m[2] ?? "").split(",").map((s) => s.trim());
    }
  }
  return keys;
}

/** Every file under dir, relative paths. */
function filesUnder(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** `openssl x509 -text` with what must differ between two CAs masked: serials, dates, key ids, key and signature bytes. */
function shapeOf(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/^\s+([0-9a-f]{2}:)*[0-9a-f]{2}:?$/.test(l)) // hex dumps: public keys, signatures, serials
    .map((l) =>
      l
        .replace(/(Serial Number:).*/, "$1 *")
        .replace(/(Not (Before|After) ?:|(Last|Next) Update:|Revocation Date:).*/, "$1 *")
        .replace(/^(\s+)(keyid:)?([0-9A-F]{2}:)+[0-9A-F]{2}$/, "$1$2*"),
    )
    .join("\n");
}

describe("a token CA issues the same certificates as a file CA (openssl -text, masked)", function () {
  this.timeout(120_000);
  const tmp = new TempDirs();
  let token: SoftHsmToken;
  let dir: string;
  let passFile: string;

  before(function () {
    const found = findSoftHsm();
    if ("missing" in found) {
      if (process.env.CI === "true") throw new Error(`${found.missing}; CI must run the PKCS#11 tests`);
      console.log(`      skipped: ${found.missing}`);
      this.skip();
    }
    token = makeSoftHsmToken(found.module, "cv-parity");
    dir = tmp.make();
    passFile = join(dir, "pass");
    writeFileSync(passFile, PASSPHRASE + "\n", { mode: 0o600 });
  });
  after(() => {
    tmp.cleanup();
    token?.cleanup();
  });

  it("root, intermediate, root CRL, client and server certificates and the CRL: same shape, only keys, serials and dates differ", async () => {
    const env = { ...token.env, CERTVAULT_PKCS11_PIN_FILE: token.pinFile };
    const homes = { files: join(dir, "files"), token: join(dir, "token") };
    const tokenArgs = ["--pkcs11-module", token.module, "--pkcs11-token", token.label];
    for (const [kind, home] of Object.entries(homes)) {
      const r = await runCli(["ca", "init", "--home", home, "--name", "Same", "--passphrase-file", passFile, ...(kind === "token" ? tokenArgs : [])], { env });
      expect(r.code, r.stderr).to.equal(0);
    }
    const csr = join(dir, "bob.csr");
    await opensslOk(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", join(dir, "bob.key"), "-subj", "/CN=bob", "-out", csr]);
    const texts: Record<string, string[]> = { files: [], token: [] };
    for (const [kind, home] of Object.entries(homes)) {
      const t = texts[kind] as string[];
      for (const f of ["root.crt", "intermediate.crt"]) t.push(await opensslOk(["x509", "-in", join(home, "ca", f), "-noout", "-text"]));
      t.push(await opensslOk(["crl", "-in", join(home, "ca", "root.crl"), "-noout", "-text"]));
      for (const [profile, extra] of [["client", []], ["server", ["--san", "bob.example", "--san", "10.1.2.3"]]] as const) {
        const out = join(dir, `${kind}-${profile}.crt`);
        const r = await runCli(["ca", "issue", "--home", home, "--passphrase-file", passFile, "--csr", csr, "--profile", profile, ...extra, "--out", out], { env });
        expect(r.code, r.stderr).to.equal(0);
        t.push(await opensslOk(["x509", "-in", out, "-noout", "-text"]));
      }
      const crl = join(dir, `${kind}.crl`);
      const r = await runCli(["ca", "crl", "--home", home, "--passphrase-file", passFile, "--out", crl], { env });
      expect(r.code, r.stderr).to.equal(0);
      t.push(await opensslOk(["crl", "-in", crl, "-noout", "-text"]));
    }
    const files = texts.files as string[];
    const tokenTexts = texts.token as string[];
    expect(tokenTexts.length).to.equal(files.length);
    for (const [i, text] of files.entries()) expect(shapeOf(tokenTexts[i] as string)).to.equal(shapeOf(text));
  });
});

for (const keyType of ["ec-p256", "rsa-3072"] as const) {
  describe(`CA keys in a PKCS#11 token (SoftHSM2, ${keyType})`, function () {
    this.timeout(120_000);
    const tmp = new TempDirs();
    let token: SoftHsmToken;
    let dir: string;
    let home: string;
    let passFile: string;
    let env: Record<string, string>;
    const ca = (f: string): string => join(home, "ca", f);

    before(function () {
      const found = findSoftHsm();
      if ("missing" in found) {
        // CI installs SoftHSM2 (.ci/run): there a missing token is a failure, not a reason to skip.
        if (process.env.CI === "true") throw new Error(`${found.missing}; CI must run the PKCS#11 tests`);
        console.log(`      skipped: ${found.missing}`);
        this.skip();
      }
      token = makeSoftHsmToken(found.module, `cv-${keyType}`);
      dir = tmp.make();
      home = join(dir, "home");
      passFile = join(dir, "pass");
      writeFileSync(passFile, PASSPHRASE + "\n", { mode: 0o600 });
      env = { ...token.env };
    });
    after(() => {
      tmp.cleanup();
      token?.cleanup();
    });

    it("ca init --pkcs11-module/--pkcs11-token/--pkcs11-pin-file makes both keys in the token and records where (never the PIN)", async () => {
      const r = await runCli(["ca", "init", "--home", home, "--name", "HSM Test", "--key-type", keyType, "--passphrase-file", passFile, "--pkcs11-module", token.module, "--pkcs11-token", token.label, "--pkcs11-pin-file", token.pinFile], { env });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(`PKCS#11 token "${token.label}"`);
      const rec = JSON.parse(readFileSync(ca("pkcs11.json"), "utf8")) as Record<string, unknown>;
      expect(rec).to.include({ version: 1, module: token.module, tokenLabel: token.label });
      expect(JSON.stringify(rec)).not.to.include(token.pin);
      expect(existsSync(ca("root.key"))).to.equal(false);
      expect(existsSync(ca("intermediate.key"))).to.equal(false);
      // The root's CRL was signed by the root key, in the token.
      await opensslOk(["crl", "-in", ca("root.crl"), "-CAfile", ca("root.crt"), "-noout", "-verify"]);
      await opensslOk(["verify", "-CAfile", ca("root.crt"), ca("intermediate.crt")]);
    });

    it("a second ca init on the same HOME is refused (exit 1) before the token is touched", async () => {
      const r = await runCli(["ca", "init", "--home", home, "--passphrase-file", passFile, "--pkcs11-module", token.module, "--pkcs11-token", token.label, "--pkcs11-pin-file", token.pinFile], { env });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/already exists/);
    });

    it("pkcs11-tool: the two private keys are sensitive, always sensitive, never extractable", async function () {
      if (!hasPkcs11Tool()) {
        if (process.env.CI === "true") throw new Error("pkcs11-tool (opensc) is missing; CI must run this test");
        console.log("      skipped: pkcs11-tool is not installed (Debian: apt-get install opensc)");
        this.skip();
      }
      const r = await runProcess("pkcs11-tool", ["--module", token.module, "--token-label", token.label, "--login", "--pin", token.pin, "--list-objects", "--type", "privkey"], { env: { ...process.env, ...env }, timeoutMs: 30_000 });
      expect(r.code, r.stderr).to.equal(0);
      const keys = privateKeysOf(r.stdout);
      const rec = JSON.parse(readFileSync(ca("pkcs11.json"), "utf8")) as { keys: { root: { label: string }; intermediate: { label: string } } };
      expect(keys.map((k) => k.label).sort()).to.deep.equal([rec.keys.intermediate.label, rec.keys.root.label].sort());
      for (const k of keys) {
        expect(k.access, k.label).to.include.members(["sensitive", "always sensitive", "never extractable"]);
        expect(k.access, k.label).not.to.include("extractable");
      }
    });

    it("ca issue signs in the token (PIN from --pkcs11-pin-file); openssl verify accepts the chain", async () => {
      const csr = join(dir, "alice.csr");
      const newkey = keyType === "rsa-3072" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
      await opensslOk(["req", "-new", ...newkey, "-nodes", "-keyout", join(dir, "alice.key"), "-subj", "/CN=alice", "-out", csr]);
      const r = await runCli(["ca", "issue", "--home", home, "--pkcs11-pin-file", token.pinFile, "--csr", csr, "--profile", "client", "--out", join(dir, "alice.crt")], { env });
      expect(r.code, r.stderr).to.equal(0);
      const v = await openssl(["verify", "-CAfile", ca("root.crt"), "-untrusted", ca("intermediate.crt"), join(dir, "alice.crt")]);
      expect(v.code, v.stderr).to.equal(0);
      expect(v.stdout).to.include(": OK");
    });

    it("without a PIN: exit 2 and a message naming the PIN options; a wrong PIN: exit 1", async () => {
      const csr = join(dir, "alice.csr");
      const none = await runCli(["ca", "issue", "--home", home, "--csr", csr, "--profile", "client"], { env });
      expect(none.code).to.equal(2);
      expect(none.stderr).to.include("--pkcs11-pin-file");
      const wrong = await runCli(["ca", "issue", "--home", home, "--csr", csr, "--profile", "client"], { env: { ...env, CERTVAULT_PKCS11_PIN: "not-the-pin" } });
      expect(wrong.code).to.equal(1);
      expect(wrong.stderr).to.match(/PIN_INCORRECT|log in/);
    });

    it("ca revoke + ca crl (PIN from CERTVAULT_PKCS11_PIN_FILE): openssl crl -verify accepts the CRL and reports the certificate revoked", async () => {
      const rv = await runCli(["ca", "revoke", "--home", home, "--cert", join(dir, "alice.crt"), "--reason", "keyCompromise"], { env });
      expect(rv.code, rv.stderr).to.equal(0);
      const crlFile = join(dir, "ca.crl");
      const r = await runCli(["ca", "crl", "--home", home, "--out", crlFile], { env: { ...env, CERTVAULT_PKCS11_PIN_FILE: token.pinFile } });
      expect(r.code, r.stderr).to.equal(0);
      const chain = join(dir, "chain.pem");
      writeFileSync(chain, readFileSync(ca("root.crt"), "utf8") + readFileSync(ca("intermediate.crt"), "utf8"));
      const c = await openssl(["crl", "-in", crlFile, "-CAfile", chain, "-noout", "-verify"]);
      expect(c.code, c.stderr).to.equal(0);
      expect(c.stdout + c.stderr).to.include("verify OK");
      const v = await openssl(["verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", ca("root.crt"), "-untrusted", ca("intermediate.crt"), join(dir, "alice.crt")]);
      expect(v.code).not.to.equal(0);
      expect(v.stdout + v.stderr).to.include("certificate revoked");
    });

    // One server start is enough: with the first key type only.
    if (keyType === "ec-p256") it("the server signs its TLS certificate and its CRLs through the token (PIN from CERTVAULT_PKCS11_PIN)", async function () {
      const child = spawn(process.execPath, [CLI_ENTRY, "server", "--home", home, "--port", "0", "--passphrase-file", passFile], {
        cwd: REPO_ROOT,
        env: cliEnv({ ...env, CERTVAULT_PKCS11_PIN: token.pin }),
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      let out = "";
      let err = "";
      child.stderr.on("data", (b: Buffer) => (err += b.toString()));
      try {
        await new Promise<void>((resolveUp, reject) => {
          const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 60_000);
          child.stdout.on("data", (b: Buffer) => {
            out += b.toString();
            if (out.includes("listening on")) {
              clearTimeout(timer);
              resolveUp();
            }
          });
          child.once("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`server exited ${code}: ${err}`));
          });
        });
      } finally {
        if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
      }
      const v = await openssl(["verify", "-CAfile", ca("root.crt"), "-untrusted", ca("intermediate.crt"), join(home, "server", "server.crt")]);
      expect(v.code, v.stderr).to.equal(0);
    });

    it("no private key of the CA under HOME/ca (only certificates, CRLs and pkcs11.json)", () => {
      const files = filesUnder(join(home, "ca"));
      expect(files.sort()).to.deep.equal(["intermediate.crt", "pkcs11.json", "root.crl", "root.crt"]);
      for (const f of files) expect(readFileSync(join(home, "ca", f), "utf8")).not.to.match(/PRIVATE KEY/);
    });
  });
}
