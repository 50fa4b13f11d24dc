/**
 * CRL distribution points (issue 19): `ca init --crl-url` and `ca set-crl-url` put the URL into every certificate
 * issued afterwards (judged by `openssl x509 -text`), and `server --crl-port` serves the current CRL there over plain
 * HTTP (fetched by curl, verified by `openssl crl -verify` against the intermediate, revocations included). CSRs come
 * from openssl, so the CLI's own key code plays no part.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { CLI_ENTRY, REPO_ROOT, TempDirs, cliEnv, runCli, runProcess } from "../helpers/cli.js";
import { extensionBlock, openssl, opensslOk, x509Text } from "../helpers/openssl.js";
import { eventually } from "../helpers/eventually.js";

const CDP = "X509v3 CRL Distribution Points";

/** A client certificate issued by `certvault ca issue` from an openssl-made CSR; returns its file and serial. */
async function issue(
  dir: string,
  home: string[],
  passFile: string,
  name: string,
): Promise<{ certFile: string; serial: string }> {
  const csr = join(dir, `${name}.csr`);
  await opensslOk([
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, `${name}.key`),
    "-subj",
    `/CN=${name}`,
    "-out",
    csr,
  ]);
  const certFile = join(dir, `${name}.pem`);
  const r = await runCli([
    "ca",
    "issue",
    ...home,
    "--passphrase-file",
    passFile,
    "--csr",
    csr,
    "--profile",
    "client",
    "--out",
    certFile,
  ]);
  expect(r.code, r.stderr).to.equal(0);
  const serial = (await opensslOk(["x509", "-in", certFile, "-noout", "-serial"]))
    .trim()
    .replace(/^serial=/, "")
    .toLowerCase();
  return { certFile, serial };
}

async function cdpOf(certFile: string): Promise<string | undefined> {
  return extensionBlock(await x509Text(certFile), CDP)?.value;
}

describe("CLI: CRL distribution point (ca init --crl-url, ca set-crl-url, server --crl-port)", function () {
  const temp = new TempDirs();
  after(() => temp.cleanup());

  it("ca init --crl-url: certificates issued afterwards name the URL, and openssl still verifies them", async function () {
    const home = temp.make();
    const passFile = join(home, "pass");
    writeFileSync(passFile, "crl url test passphrase\n", { mode: 0o600 });
    const url = "http://crl.example.test/certvault/intermediate.crl";
    const init = await runCli([
      "ca",
      "init",
      "--home",
      home,
      "--passphrase-file",
      passFile,
      "--crl-url",
      url,
      "--json",
    ]);
    expect(init.code, init.stderr).to.equal(0);
    expect(JSON.parse(init.stdout).crlUrl).to.equal(url);
    const { certFile } = await issue(home, ["--home", home], passFile, "alice");
    expect(await cdpOf(certFile)).to.equal(`Full Name:\nURI:${url}`);
    const v = await openssl([
      "verify",
      "-CAfile",
      join(home, "ca", "root.crt"),
      "-untrusted",
      join(home, "ca", "intermediate.crt"),
      certFile,
    ]);
    expect(v.code, v.stderr).to.equal(0);
  });

  it("ca init refuses a URL that is not plain http with a path (exit 2), before making a CA", async function () {
    const home = temp.make();
    const passFile = join(home, "pass");
    writeFileSync(passFile, "crl url test passphrase\n", { mode: 0o600 });
    for (const bad of [
      "https://crl.example.test/x.crl",
      "http://crl.example.test/",
      "ldap://crl.example.test/x",
      "not a url",
    ]) {
      const r = await runCli(["ca", "init", "--home", home, "--passphrase-file", passFile, "--crl-url", bad]);
      expect(r.code, bad).to.equal(2);
      expect(r.stderr).to.match(/--crl-url/);
    }
    expect(existsSync(join(home, "ca", "root.crt"))).to.equal(false);
  });

  describe("an existing CA", function () {
    let ca: TestCA;
    let server: { child: ChildProcess; lines: string[] } | undefined;
    before(async function () {
      ca = await createTestCA();
    });
    after(async function () {
      if (server?.child.pid !== undefined && server.child.exitCode === null) {
        const exited = new Promise((r) => server?.child.once("exit", r));
        process.kill(-server.child.pid, "SIGTERM");
        await exited;
      }
      await ca.cleanup();
    });

    /** `certvault server --crl-port 0`, resolved with its stdout lines once it printed `want` (or exited). */
    function startServer(
      want: RegExp,
    ): Promise<{ child: ChildProcess; lines: string[]; code?: number | null; stderr: string }> {
      const child = spawn(
        process.execPath,
        [CLI_ENTRY, "server", ...ca.cliArgs, "--port", "0", "--crl-port", "0", "--passphrase-file", ca.passphraseFile],
        {
          cwd: REPO_ROOT,
          env: cliEnv({
            CERTVAULT_RATE_LIMIT_IDENTITY: "0",
            CERTVAULT_RATE_LIMIT_SOURCE: "0",
            CERTVAULT_LOG_LEVEL: "error",
          }),
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        },
      );
      let out = "";
      let stderr = "";
      child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
      return new Promise((resolve) => {
        child.stdout?.on("data", (b: Buffer) => {
          out += b.toString();
          if (want.test(out)) resolve({ child, lines: out.trim().split("\n"), stderr });
        });
        child.once("exit", (code) => resolve({ child, lines: out.trim().split("\n"), code, stderr }));
      });
    }

    it("server --crl-port on a CA without a CRL URL: a usage error (exit 2) saying how to set one", async function () {
      const r = await startServer(/^listening on .*\ncrl on /m);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/ca set-crl-url/);
    });

    it("ca set-crl-url: certificates issued before carry no distribution point, those after do; --clear stops it", async function () {
      const dir = temp.make();
      const before = await issue(dir, ca.cliArgs, ca.passphraseFile, "before");
      expect(await cdpOf(before.certFile)).to.equal(undefined);
      const bad = await runCli(["ca", "set-crl-url", ...ca.cliArgs, "https://crl.example.test/x.crl"]);
      expect(bad.code).to.equal(2);
      const set = await runCli(["ca", "set-crl-url", ...ca.cliArgs, "http://crl.example.test/ca/current.crl"]);
      expect(set.code, set.stderr).to.equal(0);
      expect(JSON.parse(readFileSync(join(ca.home, "ca", "crl.json"), "utf8"))).to.deep.equal({
        crlUrl: "http://crl.example.test/ca/current.crl",
      });
      const after = await issue(dir, ca.cliArgs, ca.passphraseFile, "after");
      expect(await cdpOf(after.certFile)).to.equal("Full Name:\nURI:http://crl.example.test/ca/current.crl");
      expect(await cdpOf(before.certFile)).to.equal(undefined);
      expect((await runCli(["ca", "set-crl-url", ...ca.cliArgs, "--clear"])).code).to.equal(0);
      expect(await cdpOf((await issue(dir, ca.cliArgs, ca.passphraseFile, "cleared")).certFile)).to.equal(undefined);
      const audited = (await ca.db("audit_entries").where({ action: "ca.crl_url" }).select("detail")) as {
        detail: string;
      }[];
      expect(audited.map((a) => JSON.parse(a.detail) as { url: string }).map((d) => d.url)).to.include.members([
        "http://crl.example.test/ca/current.crl",
        "",
      ]);
    });

    it("server --crl-port serves the current CRL there over plain HTTP (curl), openssl verifies it, a revocation shows", async function () {
      const dir = temp.make();
      expect(
        (await runCli(["ca", "set-crl-url", ...ca.cliArgs, "http://crl.example.test/pki/certvault.crl"])).code,
      ).to.equal(0);
      const victim = await issue(dir, ca.cliArgs, ca.passphraseFile, "victim");
      server = await startServer(/^crl on /m);
      expect(server.lines[0]).to.match(/^listening on https:\/\/127\.0\.0\.1:\d+$/);
      const crlLine = server.lines.find((l) => l.startsWith("crl on ")) ?? "";
      const m = /^crl on (http:\/\/127\.0\.0\.1:\d+)\/pki\/certvault\.crl$/.exec(crlLine);
      expect(m, crlLine).to.not.equal(null);
      const origin = (m as RegExpExecArray)[1] as string;
      const crlFile = join(dir, "crl.der");
      const fetch = async (): Promise<string> =>
        (
          await runProcess("curl", [
            "-sS",
            "-o",
            crlFile,
            "-w",
            "%{http_code} %{content_type}",
            `${origin}/pki/certvault.crl`,
          ])
        ).stdout;
      expect(await fetch()).to.equal("200 application/pkix-crl");
      const verify = await openssl([
        "crl",
        "-inform",
        "DER",
        "-in",
        crlFile,
        "-CAfile",
        join(ca.home, "ca", "intermediate.crt"),
        "-verify",
        "-noout",
      ]);
      expect(verify.code, verify.stderr).to.equal(0);
      expect(verify.stderr + verify.stdout).to.match(/verify OK/);
      const lists = async (): Promise<boolean> => {
        await fetch();
        return (await opensslOk(["crl", "-inform", "DER", "-in", crlFile, "-noout", "-text"]))
          .toLowerCase()
          .includes(`serial number: ${victim.serial}`);
      };
      expect(await lists()).to.equal(false);
      const revoke = await runCli([
        "ca",
        "revoke",
        ...ca.cliArgs,
        "--serial",
        victim.serial,
        "--reason",
        "keyCompromise",
      ]);
      expect(revoke.code, revoke.stderr).to.equal(0);
      // The server reissues its CRL when it sees the revocation (polling, ~1 s): awaited, bounded.
      await eventually(lists, { what: "the served CRL to list the victim" });
      expect(await lists(), "the served CRL lists the revoked serial").to.equal(true);
      const again = await openssl([
        "crl",
        "-inform",
        "DER",
        "-in",
        crlFile,
        "-CAfile",
        join(ca.home, "ca", "intermediate.crt"),
        "-verify",
        "-noout",
      ]);
      expect(again.stderr + again.stdout).to.match(/verify OK/);
    });

    it("the CRL port serves nothing else: 404 elsewhere, 405 for other methods, HEAD answers 200 with the CRL type", async function () {
      const crlLine = server?.lines.find((l) => l.startsWith("crl on ")) ?? "";
      const url = crlLine.replace(/^crl on /, "");
      const origin = new URL(url).origin;
      const status = async (args: string[]): Promise<string> =>
        (await runProcess("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", ...args])).stdout;
      expect(await status([`${origin}/`])).to.equal("404");
      expect(await status([`${origin}/v1/me`])).to.equal("404");
      expect(await status([`${origin}/pki/certvault.crl.bak`])).to.equal("404");
      expect(await status(["-X", "POST", "--data", "x", url])).to.equal("405");
      const head = await runProcess("curl", ["-sS", "-I", url]);
      expect(head.stdout).to.match(/^HTTP\/1\.1 200 /);
      expect(head.stdout).to.match(/^content-type: application\/pkix-crl\r$/im);
    });
  });
});
