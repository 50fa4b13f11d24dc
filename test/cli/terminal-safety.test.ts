/**
 * What the CLI prints from the database, a certificate or the server reaches the terminal escaped (cli/terminal.ts):
 * a database writer plants ESC sequences, bidi overrides, C1 controls and line separators in rows that `requests list`,
 * `quarantine list` and `ca list`/`ca show` print; a hostile server answers with them in its error message. None of them
 * may reach stdout or stderr raw; they show as `\u{XXXX}`, and --json stays valid JSON with the same values.
 */
import { expect } from "chai";
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { runCli } from "../helpers/cli.js";
import { FileKeyStore } from "../../src/client-sdk/keystore.js";

/** Clear screen, set the window title, ring the bell, right-to-left override, isolate, line separator, C1 CSI. */
const EVIL = "\x1b[2J\x1b]0;owned\x07 \u202Eevil\u2066 \u2028\u009B31m";
/** Anything a terminal acts on, bar the line feeds the CLI itself writes. */
const RAW_UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

function expectEscaped(text: string): void {
  expect(text.replace(/\n/g, "")).to.not.match(RAW_UNSAFE);
  expect(text).to.include("\\u{001B}[2J");
  expect(text).to.include("\\u{202E}evil");
  expect(text).to.include("\\u{2028}");
  expect(text).to.include("\\u{009B}31m");
}

describe("CLI: text from the database, a certificate or the server is escaped for the terminal", function () {
  let ca: TestCA;
  let caArgs: string[];

  before(async function () {
    ca = await createTestCA();
    caArgs = [...ca.cliArgs, "--passphrase-file", ca.passphraseFile];
  });
  after(async function () {
    await ca.cleanup();
  });

  it("requests list: a planted request's identity and requester are printed escaped", async function () {
    await ca.db("certificate_requests").insert({
      id: "e".repeat(32),
      identity: `mallory${EVIL}`,
      csr: "-",
      requested_by: EVIL,
      status: "pending",
      serial: null,
      created_at: Date.now(),
      decided_at: null,
    });
    const r = await runCli(["requests", "list", ...caArgs]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`mallory\\u{001B}[2J`);
    expectEscaped(r.stdout);
  });

  it("quarantine list: identity, rule and reason escaped; --json is valid JSON with the planted values", async function () {
    await ca
      .db("quarantine")
      .insert({ identity: `eve${EVIL}`, rule: "burst", reason: `too fast${EVIL}`, since: Date.now() });
    const r = await runCli(["quarantine", "list", ...ca.cliArgs]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include("eve\\u{001B}[2J");
    expectEscaped(r.stdout);
    const j = await runCli(["quarantine", "list", "--json", ...ca.cliArgs]);
    expect(j.code, j.stderr).to.equal(0);
    expect(j.stdout.replace(/\n/g, "")).to.not.match(RAW_UNSAFE);
    expect(
      (JSON.parse(j.stdout) as { identity: string; reason: string }[]).map((q) => [q.identity, q.reason]),
    ).to.deep.equal([[`eve${EVIL}`, `too fast${EVIL}`]]);
  });

  it("ca list and ca show: a registry row whose subject and PEM a database writer changed is printed escaped", async function () {
    const bob = await ca.issueClient("bob");
    await ca
      .db("certificates")
      .where({ serial: bob.serial })
      .update({ subject: `CN=bob${EVIL}`, pem: `${bob.certPem}${EVIL}\n` });
    const list = await runCli(["ca", "list", ...caArgs]);
    expect(list.code, list.stderr).to.equal(0);
    expectEscaped(list.stdout);
    const show = await runCli(["ca", "show", bob.serial, ...caArgs]);
    expect(show.code, show.stderr).to.equal(0);
    expect(show.stdout).to.include(bob.certPem);
    expectEscaped(show.stdout);
  });

  describe("a hostile server's error message", function () {
    let hostile: Server;
    let profile: string;
    const passFile = (): string => join(profile, "pass.txt");

    before(async function () {
      const srv = await ca.issueServer(["localhost", "127.0.0.1"]);
      hostile = createServer(
        { key: srv.keyPem, cert: srv.certPem + ca.intermediatePem, requestCert: true, rejectUnauthorized: false },
        (_req, res) => {
          res.writeHead(403, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              error: { code: "identity_quarantined", message: `all is well${EVIL}\nfake: second line` },
            }),
          );
        },
      );
      await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve));
      const alice = await ca.issueClient("alice");
      profile = join(ca.home, "alice-profile");
      mkdirSync(profile, { recursive: true });
      writeFileSync(passFile(), "alice's long passphrase\n", { mode: 0o600 });
      await new FileKeyStore(join(profile, "key.pem")).save(alice.privateKey, "alice's long passphrase");
      writeFileSync(join(profile, "cert.pem"), alice.certPem);
      copyFileSync(ca.paths.rootCert, join(profile, "ca.pem"));
    });
    after(async function () {
      await new Promise((resolve) => hostile.close(resolve));
    });

    it("reaches stderr as one escaped line (exit 1)", async function () {
      const url = `https://localhost:${(hostile.address() as AddressInfo).port}`;
      const r = await runCli(["ls", "--profile", profile, "--server", url, "--passphrase-file", passFile()]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stdout).to.equal("");
      expect(r.stderr).to.match(/^certvault: all is well/);
      expect(r.stderr.split("\n")).to.have.length(2); // one line, then the final line feed
      expect(r.stderr).to.include("\\u{000A}fake: second line");
      expectEscaped(r.stderr);
    });
  });
});
