/**
 * The user's side end to end: `certvault keygen` → admin `ca issue` → `put` → `get`, against a real server, with the
 * key kept encrypted on disk. openssl is the independent peer for the key file and for what the SDK seals.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { isRecipient } from "../../src/envelope/index.js";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { runCli, runProcess, cliEnv, CLI_ENTRY } from "../helpers/cli.js";
import { openssl } from "../helpers/openssl.js";
import { rowsIn } from "../helpers/db.js";

describe("user CLI: keygen, issue, put, get", function () {
  let ca: TestCA;
  let server: TestServer;
  let profile: string;
  let passFile: string;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    profile = join(ca.home, "alice-profile");
    passFile = join(ca.home, "alice-pass.txt");
    writeFileSync(passFile, "alice's long passphrase\n", { mode: 0o600 });
    const kg = await runCli(["keygen", "--name", "alice", "--out", profile, "--passphrase-file", passFile]);
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
    copyFileSync(ca.paths.rootCert, join(profile, "ca.pem"));
    writeFileSync(
      join(profile, "config.json"),
      JSON.stringify({ server: server.url.replace("127.0.0.1", "localhost") }),
    );
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("keeps the key encrypted: 0600, ENCRYPTED PRIVATE KEY, openssl opens it only with the passphrase, no temp files", async function () {
    const keyFile = join(profile, "key.pem");
    expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
    expect(readFileSync(keyFile, "utf8")).to.match(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect((await openssl(["pkey", "-in", keyFile, "-passin", `file:${passFile}`, "-noout"])).code).to.equal(0);
    expect((await openssl(["pkey", "-in", keyFile, "-passin", "pass:wrong passphrase", "-noout"])).code).to.not.equal(
      0,
    );
    expect(readdirSync(profile).filter((f) => f.includes(".tmp"))).to.deep.equal([]);
    const csr = await openssl(["req", "-in", join(profile, "request.csr"), "-noout", "-verify", "-subject"]);
    expect(csr.stdout + csr.stderr).to.match(/verify OK/);
    expect(csr.stdout).to.match(/CN\s*=\s*alice/);
  });

  for (const size of [0, 1, 1024 * 1024, 15 * 1024 * 1024]) {
    it(`put then get returns identical bytes (${size} bytes)`, async function () {
      const data = randomBytes(size);
      const input = join(ca.home, `in-${size}.bin`);
      writeFileSync(input, data);
      const put = await runCli(["put", "--profile", profile, "--passphrase-file", passFile, input]);
      expect(put.code, put.stderr).to.equal(0);
      const id = put.stdout.trim();
      expect(id).to.match(/^[0-9a-f]{32}$/);
      const out = join(ca.home, `out-${size}.bin`);
      const get = await runCli(["get", "--profile", profile, "--passphrase-file", passFile, id, "-o", out]);
      expect(get.code, get.stderr).to.equal(0);
      expect(Buffer.compare(readFileSync(out), data)).to.equal(0);
    });
  }

  it("seals and signs on the client: openssl cms opens what `put` stored with the user's key, and verifies its signature", async function () {
    const r = await runProcess(
      process.execPath,
      [CLI_ENTRY, "put", "--profile", profile, "--passphrase-file", passFile, "-"],
      { env: cliEnv(), input: "sealed by the SDK" },
    );
    expect(r.code, r.stderr).to.equal(0);
    const id = r.stdout.trim();
    const envelope = await ca.db("records").where({ id }).first("envelope");
    const der = join(ca.home, "sdk.der");
    writeFileSync(der, envelope.envelope as Buffer);
    const plain = join(ca.home, "sdk.txt");
    const o = await openssl([
      "cms",
      "-decrypt",
      "-inform",
      "DER",
      "-binary",
      "-in",
      der,
      "-inkey",
      join(profile, "key.pem"),
      "-passin",
      `file:${passFile}`,
      "-recip",
      join(profile, "cert.pem"),
      "-out",
      plain,
    ]);
    expect(o.code, o.stderr).to.equal(0);
    // Sign-then-encrypt: what decrypts is the user's SignedData; openssl verifies it against the root and prints it.
    const content = join(ca.home, "sdk-content.txt");
    const v = await openssl([
      "cms",
      "-verify",
      "-inform",
      "DER",
      "-binary",
      "-in",
      plain,
      "-CAfile",
      ca.paths.rootCert,
      "-purpose",
      "any",
      "-out",
      content,
    ]);
    expect(v.code, v.stderr).to.equal(0);
    expect(readFileSync(content, "utf8")).to.equal("sealed by the SDK");
    const signer = await openssl([
      "cms",
      "-verify",
      "-inform",
      "DER",
      "-binary",
      "-in",
      plain,
      "-CAfile",
      ca.paths.rootCert,
      "-purpose",
      "any",
      "-signer",
      join(ca.home, "sdk-signer.pem"),
      "-out",
      "/dev/null",
    ]);
    expect(signer.code, signer.stderr).to.equal(0);
    expect(readFileSync(join(ca.home, "sdk-signer.pem"), "utf8").replace(/\s/g, "")).to.equal(
      readFileSync(join(profile, "cert.pem"), "utf8").replace(/\s/g, ""),
    );
  });

  it("a wrong passphrase fails with exit 1 and a typed message, and sends nothing", async function () {
    const before = await rowsIn(ca.db, "records");
    const wrong = join(ca.home, "wrong.txt");
    writeFileSync(wrong, "not the passphrase\n");
    const input = join(ca.home, "x.txt");
    writeFileSync(input, "x");
    const r = await runCli(["put", "--profile", profile, "--passphrase-file", wrong, input]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/wrong passphrase/);
    const after = await rowsIn(ca.db, "records");
    expect(after).to.equal(before);
  });

  it("opens a record that curl stored as plaintext (sealed by the server)", async function () {
    const { curl, json } = await import("../helpers/curl.js");
    const text = `server-sealed ${randomBytes(8).toString("hex")}`;
    const r = await curl(`${server.url}/v1/records`, {
      cacert: ca.paths.rootCert,
      id: { certPath: join(profile, "cert.pem"), keyPath: join(profile, "key.pem"), passFile },
      data: text,
    });
    expect(r.status, r.body.toString()).to.equal(201);
    const id = json(r).id as string;
    const get = await runCli(["get", "--profile", profile, "--passphrase-file", passFile, id]);
    expect(get.code, get.stderr).to.equal(0);
    expect(get.stdout).to.equal(text);
    // Signed by the server, not by the owner: said on stderr, and refused on request (nothing on stdout then).
    expect(get.stderr).to.match(/sealed by the server from a plaintext upload/);
    const strict = await runCli([
      "get",
      "--profile",
      profile,
      "--passphrase-file",
      passFile,
      "--refuse-server-sealed",
      id,
    ]);
    expect(strict.code).to.equal(1);
    expect(strict.stdout).to.equal("");
    expect(strict.stderr).to.match(/server-sealed records are refused/);
  });

  it("recovery pin: the SDK seals to the recovery certificate only once its fingerprint is pinned in the profile", async function () {
    const { readFileSync: read } = await import("node:fs");
    const custodians = [await ca.issueClient("pin-custodian-1"), await ca.issueClient("pin-custodian-2")];
    const init = await runCli([
      "recovery",
      "init",
      ...custodians.flatMap((c) => ["--custodian", c.certPath]),
      "--threshold",
      "2",
      "--wait-hours",
      "0",
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
    ]);
    expect(init.code, init.stderr).to.equal(0);
    const fingerprint = (
      await openssl(["x509", "-in", join(ca.home, "ca", "recovery.crt"), "-noout", "-fingerprint", "-sha256"])
    ).stdout.trim();
    const put = () =>
      runProcess(process.execPath, [CLI_ENTRY, "put", "--profile", profile, "--passphrase-file", passFile, "-"], {
        env: cliEnv(),
        input: "after recovery init",
      });
    const unpinned = await put();
    expect(unpinned.code).to.equal(1);
    expect(unpinned.stderr).to.match(/recovery pin/);
    const wrong = await runCli([
      "recovery",
      "pin",
      "--profile",
      profile,
      "--passphrase-file",
      passFile,
      "--fingerprint",
      "ab".repeat(32),
    ]);
    expect(wrong.code).to.equal(1);
    expect(existsSync(join(profile, "trust.json")) ? read(join(profile, "trust.json"), "utf8") : "").to.not.match(
      /recoveryFingerprint/,
    );
    // As `openssl x509 -fingerprint -sha256` prints it (colons, upper case): accepted as is.
    const pin = await runCli([
      "recovery",
      "pin",
      "--profile",
      profile,
      "--passphrase-file",
      passFile,
      "--fingerprint",
      fingerprint.replace(/^.*=/, ""),
    ]);
    expect(pin.code, pin.stderr).to.equal(0);
    const ok = await put();
    expect(ok.code, ok.stderr).to.equal(0);
    const stored = (await ca.db("records").where({ id: ok.stdout.trim() }).first("envelope")) as { envelope: Buffer };
    expect(isRecipient(new Uint8Array(stored.envelope), read(join(ca.home, "ca", "recovery.crt"), "utf8"))).to.equal(
      true,
    );
  });

  it("ls lists the records and rm deletes one", async function () {
    const ls = await runCli(["ls", "--profile", profile, "--passphrase-file", passFile, "--json"]);
    expect(ls.code, ls.stderr).to.equal(0);
    const list = JSON.parse(ls.stdout) as { id: string }[];
    expect(list.length).to.be.greaterThan(0);
    const victim = (list[0] as { id: string }).id;
    const rm = await runCli(["rm", "--profile", profile, "--passphrase-file", passFile, victim]);
    expect(rm.code, rm.stderr).to.equal(0);
    const get = await runCli(["get", "--profile", profile, "--passphrase-file", passFile, victim]);
    expect(get.code).to.equal(1);
    expect(get.stderr).to.match(/not found/);
  });
});
