/**
 * `certvault export-p12` (issue 18): the profile's key, certificate and chain as PKCS#12, read by independent
 * importers: OpenSSL (algorithms, contents, MAC), curl (mTLS to a real server with the file alone) and NSS's pk12util
 * (the store Chromium and Firefox use on Linux). The profile is made the way a user makes it: keygen, then `ca issue`.
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { encryptPkcs8 } from "../../src/keys/encrypted-pkcs8.js";
import { runCli, runProcess } from "../helpers/cli.js";
import { curl, json } from "../helpers/curl.js";
import { openssl, opensslOk } from "../helpers/openssl.js";

/** In CI (env CI) or with CERTVAULT_REQUIRE_NSS=1 (.ci/run exports it) a missing pk12util fails instead of skipping. */
function nssRequired(): boolean {
  const ci = (process.env.CI ?? "").trim().toLowerCase();
  return (ci !== "" && ci !== "0" && ci !== "false") || process.env.CERTVAULT_REQUIRE_NSS === "1";
}

function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

const pemBlocks = (text: string, label: string): string[] =>
  text.match(new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`, "g")) ?? [];
const squash = (pem: string): string => pem.replace(/\s/g, "");

describe("export-p12: the profile as a PKCS#12 file for browsers, keychains and curl", function () {
  let ca: TestCA;
  let server: TestServer;
  let profile: string;
  let keyPass: string;
  let p12Pass: string;
  let p12: string;
  let exportRun: { code: number | null; stdout: string; stderr: string };

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    profile = join(ca.home, "alice-profile");
    keyPass = join(ca.home, "alice-key-pass.txt");
    p12Pass = join(ca.home, "alice-p12-pass.txt");
    writeFileSync(keyPass, "alice's key passphrase\n", { mode: 0o600 });
    writeFileSync(p12Pass, "alice exports her certificate\n", { mode: 0o600 });
    const kg = await runCli(["keygen", "--name", "alice", "--out", profile, "--passphrase-file", keyPass]);
    expect(kg.code, kg.stderr).to.equal(0);
    const issue = await runCli([
      "ca",
      "issue",
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
      "--csr",
      join(profile, "request.csr"),
      "--profile",
      "client",
      "--out",
      join(profile, "cert.pem"),
    ]);
    expect(issue.code, issue.stderr).to.equal(0);
    copyFileSync(ca.paths.rootCert, join(profile, "ca.pem")); // a profile holds the root only
    p12 = join(ca.home, "out", "alice.p12");
    mkdirSync(join(ca.home, "out"));
    exportRun = await runCli([
      "export-p12",
      "--profile",
      profile,
      "--out",
      p12,
      "--passphrase-file",
      keyPass,
      "--p12-passphrase-file",
      p12Pass,
    ]);
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  it("writes the file with mode 0600, atomically (no temp file left), and says what it wrote", function () {
    expect(exportRun.code, exportRun.stderr).to.equal(0);
    expect(statSync(p12).mode & 0o777).to.equal(0o600);
    expect(readdirSync(join(ca.home, "out"))).to.deep.equal(["alice.p12"]);
    expect(exportRun.stdout).to.match(/wrote .*alice\.p12 \(PKCS#12, AES-256-CBC, PBKDF2-HMAC-SHA256/);
    // A profile holds no intermediate: said on stderr, and the file still carries what is there (leaf and root).
    expect(exportRun.stderr).to.match(/no certificate of the CA that issued .*Issuing CA \(the intermediate\)/);
    expect(exportRun.stderr).to.match(/--chain intermediate\.crt/);
  });

  it("openssl pkcs12 -info: AES-256-CBC and PBKDF2 (hmacWithSHA256) for the key and the certificates, SHA-256 MAC; nothing weak", async function () {
    const r = await openssl(["pkcs12", "-in", p12, "-info", "-noout", "-passin", `file:${p12Pass}`]);
    expect(r.code, r.stderr).to.equal(0);
    const info = r.stdout + r.stderr; // openssl prints the algorithm lines on stderr
    expect(info).to.match(/MAC: sha256, Iteration (\d+)/);
    expect(Number(/MAC: sha256, Iteration (\d+)/.exec(info)?.[1])).to.be.at.least(2048);
    expect(info).to.match(/PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);
    expect(info).to.match(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);
    expect(info).to.not.match(/RC2|3DES|DES-EDE|sha1|SHA1|RC4/i);
  });

  it("holds the profile's key and certificate: same public key and leaf, friendly name and localKeyID on both", async function () {
    const out = await opensslOk(["pkcs12", "-in", p12, "-nodes", "-passin", `file:${p12Pass}`]);
    const keys = pemBlocks(out, "PRIVATE KEY");
    expect(keys).to.have.length(1);
    const fromP12 = await opensslOk(["pkey", "-pubout"], { input: keys[0] });
    const fromProfile = await opensslOk([
      "pkey",
      "-in",
      join(profile, "key.pem"),
      "-passin",
      `file:${keyPass}`,
      "-pubout",
    ]);
    expect(fromP12).to.equal(fromProfile);
    const certs = pemBlocks(out, "CERTIFICATE");
    expect(certs.map(squash)).to.include(squash(readFileSync(join(profile, "cert.pem"), "utf8")));
    expect(certs.map(squash)).to.include(squash(readFileSync(join(profile, "ca.pem"), "utf8")));
    // The key's and the leaf's bag attributes: friendlyName alice and one localKeyID shared by both (the pairing).
    expect(out.match(/friendlyName: alice/g)).to.have.length(2);
    const ids = [...out.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => (m[1] as string).trim());
    expect(ids).to.have.length(2);
    expect(ids[0]).to.equal(ids[1]);
    // The leaf is the certificate the friendly name is on.
    const leafSection = out.slice(out.indexOf("friendlyName: alice"));
    expect(leafSection).to.match(/^friendlyName: alice[\s\S]*?subject=CN = alice\n/);
  });

  it("a wrong PKCS#12 passphrase opens nothing", async function () {
    const wrong = join(ca.home, "wrong-p12.txt");
    writeFileSync(wrong, "not the export passphrase\n");
    const r = await openssl(["pkcs12", "-in", p12, "-nodes", "-passin", `file:${wrong}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/mac verify (failure|error)/i);
    expect(r.stdout).to.not.match(/PRIVATE KEY/);
    // Skipping the MAC does not help: the key and the certificates are encrypted under the passphrase too.
    const noMac = await openssl(["pkcs12", "-in", p12, "-nodes", "-nomacver", "-passin", `file:${wrong}`]);
    expect(noMac.code, "openssl without the MAC check still fails to decrypt").to.not.equal(0);
    expect(noMac.stdout).to.not.match(/PRIVATE KEY|CERTIFICATE/);
  });

  it("curl --cert-type P12 with the file alone gets /v1/me (200, as alice) from a real server", async function () {
    // curl takes a P12 password only in its argument (FILE:PASS): acceptable in a test, never done by certvault.
    const pass = readFileSync(p12Pass, "utf8").replace(/\n$/, "");
    const r = await runProcess("curl", [
      "-sS",
      "--cert-type",
      "P12",
      "--cert",
      `${p12}:${pass}`,
      "--cacert",
      ca.paths.rootCert,
      "-o",
      join(ca.home, "me.json"),
      "-w",
      "%{http_code}",
      "--max-time",
      "30",
      `${server.url}/v1/me`,
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal("200");
    const me = JSON.parse(readFileSync(join(ca.home, "me.json"), "utf8")) as {
      identity: string;
      certificates: string[];
    };
    expect(me.identity).to.equal("alice");
    // Without the file (the same curl, no client certificate) the server lets nothing through.
    const bare = await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert });
    expect(bare.status === 0 || bare.status === 401 || bare.status === 403, `status ${bare.status}`).to.equal(true);
    if (bare.status !== 0) expect(json(bare).error).to.be.an("object");
  });

  it("NSS (pk12util) imports it under a non-ASCII passphrase and certutil lists the certificate by its friendly name, with its key", async function () {
    if (!onPath("pk12util") || !onPath("certutil")) {
      const reason = "pk12util/certutil are not installed (Debian: apt-get install libnss3-tools)";
      if (nssRequired()) throw new Error(`${reason}; this run requires the NSS test (CI or CERTVAULT_REQUIRE_NSS=1)`);
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    const uniPass = join(ca.home, "p12-pass-unicode.txt");
    writeFileSync(uniPass, "pässwörd für ✓ alice\n", { mode: 0o600 });
    const file = join(ca.home, "alice-unicode.p12");
    const e = await runCli(["export-p12", "--profile", profile, "--out", file, "--p12-passphrase-file", uniPass], {
      env: { CERTVAULT_PASSPHRASE: "alice's key passphrase" },
    });
    expect(e.code, e.stderr).to.equal(0);
    // OpenSSL opens it under the same passphrase (UTF-8 for PBES2, BMPString for the MAC, as both OpenSSL and NSS read them).
    expect((await openssl(["pkcs12", "-in", file, "-noout", "-passin", `file:${uniPass}`])).code).to.equal(0);

    const db = join(ca.home, "nssdb");
    mkdirSync(db);
    const empty = join(ca.home, "nss-empty-pw.txt");
    writeFileSync(empty, "");
    const init = await runProcess("certutil", ["-N", "-d", `sql:${db}`, "--empty-password"]);
    expect(init.code, init.stderr).to.equal(0);
    const imp = await runProcess("pk12util", ["-i", file, "-d", `sql:${db}`, "-w", uniPass, "-k", empty]);
    expect(imp.code, imp.stdout + imp.stderr).to.equal(0);
    expect(imp.stdout).to.match(/PKCS12 IMPORT SUCCESSFUL/);
    const list = await runProcess("certutil", ["-L", "-d", `sql:${db}`]);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.match(/^alice\s+u,u,u$/m); // the user's own certificate ("u": it has its private key)
    const keys = await runProcess("certutil", ["-K", "-d", `sql:${db}`, "-f", empty]);
    expect(keys.stdout).to.match(/\balice$/m);
    // And the certificate NSS holds is the profile's.
    const pem = await runProcess("certutil", ["-L", "-d", `sql:${db}`, "-n", "alice", "-a"]);
    expect(squash(pem.stdout)).to.equal(squash(readFileSync(join(profile, "cert.pem"), "utf8")));

    // A wrong passphrase imports nothing.
    const wrongDb = join(ca.home, "nssdb-wrong");
    mkdirSync(wrongDb);
    await runProcess("certutil", ["-N", "-d", `sql:${wrongDb}`, "--empty-password"]);
    const bad = await runProcess("pk12util", ["-i", file, "-d", `sql:${wrongDb}`, "-w", p12Pass, "-k", empty]);
    expect(bad.code).to.not.equal(0);
    expect((await runProcess("certutil", ["-L", "-d", `sql:${wrongDb}`])).stdout).to.not.match(/alice/);
  });

  it("with --chain intermediate.crt: leaf, intermediate and root, no note; --iterations sets the counts; --json reports it", async function () {
    const file = join(ca.home, "alice-chain.p12");
    const r = await runCli([
      "export-p12",
      "--profile",
      profile,
      "--out",
      file,
      "--passphrase-file",
      keyPass,
      "--p12-passphrase-file",
      p12Pass,
      "--chain",
      ca.paths.intermediateCert,
      "--iterations",
      "4096",
      "--json",
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal("");
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report).to.include({
      out: file,
      friendlyName: "alice",
      certificates: 3,
      chainComplete: true,
      iterations: 4096,
    });
    const out = await opensslOk(["pkcs12", "-in", file, "-nokeys", "-passin", `file:${p12Pass}`]);
    expect(out.match(/^subject=.*$/gm)).to.deep.equal([
      "subject=CN = alice",
      "subject=CN = certvault test Issuing CA",
      "subject=CN = certvault test Root CA",
    ]);
    const info = await openssl(["pkcs12", "-in", file, "-info", "-noout", "-passin", `file:${p12Pass}`]);
    expect(info.stdout + info.stderr).to.match(/MAC: sha256, Iteration 4096/);
    // What `openssl verify` needs is all in the file.
    const chainDir = join(ca.home, "chain-check");
    mkdirSync(chainDir);
    const certs = pemBlocks(out, "CERTIFICATE");
    writeFileSync(join(chainDir, "leaf.pem"), `${certs[0]}\n`);
    writeFileSync(join(chainDir, "inter.pem"), `${certs[1]}\n`);
    writeFileSync(join(chainDir, "root.pem"), `${certs[2]}\n`);
    const v = await openssl([
      "verify",
      "-CAfile",
      join(chainDir, "root.pem"),
      "-untrusted",
      join(chainDir, "inter.pem"),
      join(chainDir, "leaf.pem"),
    ]);
    expect(v.code, v.stderr).to.equal(0);
  });

  for (const keyType of ["rsa-3072", "ec-p384"] as const) {
    it(`a ${keyType} key exports as well: openssl gives back the same key, and the server takes it over curl`, async function () {
      const id = await ca.issueClient(`carol-${keyType}`, { keyType });
      const dir = join(ca.home, `carol-${keyType}`);
      mkdirSync(dir);
      // The profile's files as keygen + ca issue leave them (the kit's keys are throwaway: 2,048 PBKDF2 rounds suffice).
      writeFileSync(
        join(dir, "key.pem"),
        encryptPkcs8(new Uint8Array(id.key.export({ format: "der", type: "pkcs8" })), "carol's key passphrase", 2048),
        { mode: 0o600 },
      );
      writeFileSync(join(dir, "cert.pem"), id.certPem);
      copyFileSync(ca.paths.rootCert, join(dir, "ca.pem"));
      const file = join(ca.home, `carol-${keyType}.p12`);
      const r = await runCli(
        ["export-p12", "--profile", dir, "--out", file, "--p12-passphrase-file", p12Pass, "--iterations", "2048"],
        { env: { CERTVAULT_PASSPHRASE: "carol's key passphrase" } },
      );
      expect(r.code, r.stderr).to.equal(0);
      const out = await opensslOk(["pkcs12", "-in", file, "-nodes", "-nocerts", "-passin", `file:${p12Pass}`]);
      const [key] = pemBlocks(out, "PRIVATE KEY");
      expect(await opensslOk(["pkey", "-pubout"], { input: key })).to.equal(
        await opensslOk(["pkey", "-pubout"], { input: id.keyPem }),
      );
      expect(out).to.match(new RegExp(`friendlyName: carol-${keyType}`));
      // curl takes the P12 password only in its argument: acceptable in a test, never done by certvault.
      const pass = readFileSync(p12Pass, "utf8").replace(/\n$/, "");
      const me = await runProcess("curl", [
        "-sS",
        "--cert-type",
        "P12",
        "--cert",
        `${file}:${pass}`,
        "--cacert",
        ca.paths.rootCert,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "30",
        `${server.url}/v1/me`,
      ]);
      expect(me.stdout.trim(), me.stderr).to.equal("200");
    });
  }

  it("a wrong key passphrase: exit 1 naming it, and no file", async function () {
    const wrong = join(ca.home, "wrong-key.txt");
    writeFileSync(wrong, "not alice's key passphrase\n");
    const file = join(ca.home, "never.p12");
    const r = await runCli([
      "export-p12",
      "--profile",
      profile,
      "--out",
      file,
      "--passphrase-file",
      wrong,
      "--p12-passphrase-file",
      p12Pass,
    ]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/wrong passphrase/);
    expect(existsSync(file)).to.equal(false);
    expect(readdirSync(ca.home).filter((f) => f.includes("never"))).to.deep.equal([]);
  });

  it("refuses without a PKCS#12 passphrase, with an empty one, over an existing file, and with a certificate that is not the key's", async function () {
    const file = join(ca.home, "refused.p12");
    const common = ["export-p12", "--profile", profile, "--out", file, "--passphrase-file", keyPass];
    // Non-interactive and no --p12-passphrase-file: a usage error (the passphrase is never an argument).
    const none = await runCli(common);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/--p12-passphrase-file/);
    const empty = join(ca.home, "empty-p12-pass.txt");
    writeFileSync(empty, "\n");
    const e = await runCli([...common, "--p12-passphrase-file", empty]);
    expect(e.code).to.equal(2);
    expect(e.stderr).to.match(/empty/);
    expect(existsSync(file)).to.equal(false);
    // An existing --out stays as it is without --force.
    writeFileSync(file, "already here");
    const exists = await runCli([...common, "--p12-passphrase-file", p12Pass]);
    expect(exists.code).to.equal(1);
    expect(exists.stderr).to.match(/refusing to overwrite/);
    expect(readFileSync(file, "utf8")).to.equal("already here");
    // cert.pem of someone else: refused before anything is written.
    const bob = await ca.issueClient("bob");
    const mixed = join(ca.home, "mixed-profile");
    mkdirSync(mixed);
    copyFileSync(join(profile, "key.pem"), join(mixed, "key.pem"));
    copyFileSync(ca.paths.rootCert, join(mixed, "ca.pem"));
    writeFileSync(join(mixed, "cert.pem"), bob.certPem);
    const mixedOut = join(ca.home, "mixed.p12");
    const m = await runCli([
      "export-p12",
      "--profile",
      mixed,
      "--out",
      mixedOut,
      "--passphrase-file",
      keyPass,
      "--p12-passphrase-file",
      p12Pass,
    ]);
    expect(m.code).to.equal(1);
    expect(m.stderr).to.match(/not the certificate of key\.pem/);
    expect(existsSync(mixedOut)).to.equal(false);
  });
});
