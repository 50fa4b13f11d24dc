/**
 * README.md's "Reading a record with OpenSSL alone" block, run exactly as written (the first ```sh block under that
 * heading) by bash with pipefail, in a directory laid out as the README's walkthrough leaves it (alice/ with the
 * profile, alice-pass.txt, the record id in $id), against a real server: a record the SDK put (signed by alice), one
 * curl uploaded as plaintext (signed by the server), and one forged with `openssl cms -encrypt` to alice's
 * certificate (no signature: the pipeline must fail and give no content). Also `npm start`'s printed curl lines
 * (`certvault dev`), run as printed from the directory it was started in.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clientFromProfile } from "../../src/client-sdk/index.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { CLI_ENTRY, REPO_ROOT, cliEnv, runCli, runProcess } from "../helpers/cli.js";
import { curl, json } from "../helpers/curl.js";
import { opensslOk } from "../helpers/openssl.js";

const HEADING = "## Reading a record with OpenSSL alone";
/** The README's commands name the development server's address; the test server listens elsewhere. */
const README_URL = "https://localhost:8443";

function readmeBlock(): string {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const at = readme.indexOf(`\n${HEADING}\n`);
  if (at < 0) throw new Error(`README.md has no "${HEADING}" section`);
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m?.[1]) throw new Error(`README.md's "${HEADING}" section has no \`\`\`sh block`);
  return m[1];
}

describe("README: reading a record with OpenSSL alone", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let work: string;
  let url: string;
  const passphrase = "alice: a long passphrase";

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    url = server.url.replace("127.0.0.1", "localhost");
    // As the README's walkthrough: keygen, ca issue, the root as ca.pem, config.json.
    work = join(ca.home, "readme");
    mkdirSync(work);
    writeFileSync(join(work, "alice-pass.txt"), passphrase + "\n", { mode: 0o600 });
    const kg = await runCli([
      "keygen",
      "--name",
      "alice",
      "--out",
      join(work, "alice"),
      "--passphrase-file",
      join(work, "alice-pass.txt"),
    ]);
    expect(kg.code, kg.stderr).to.equal(0);
    const issue = await runCli([
      "ca",
      "issue",
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
      "--csr",
      join(work, "alice", "request.csr"),
      "--profile",
      "client",
      "--out",
      join(work, "alice", "cert.pem"),
    ]);
    expect(issue.code, issue.stderr).to.equal(0);
    copyFileSync(ca.paths.rootCert, join(work, "alice", "ca.pem"));
    writeFileSync(join(work, "alice", "config.json"), JSON.stringify({ server: url }));
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  /** Runs the README block for record `id` in the work directory, from a clean slate. */
  async function runReadme(
    id: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string; content?: string }> {
    const block = readmeBlock();
    expect(block, "the README's commands fetch from the development server's address").to.include(README_URL);
    for (const f of ["record.der", "record.txt", "signer.pem"]) rmSync(join(work, f), { force: true });
    const script = `set -euo pipefail\n${block.split(README_URL).join(url)}`;
    const r = await runProcess("bash", ["-c", script], {
      cwd: work,
      env: { ...process.env, id },
      detached: true,
      timeoutMs: 60_000,
    });
    const out = join(work, "record.txt");
    return {
      code: r.code,
      stdout: r.stdout,
      stderr: r.stderr,
      ...(existsSync(out) ? { content: readFileSync(out, "utf8") } : {}),
    };
  }

  it("the README's commands use only curl, openssl and the profile's files", function () {
    const commands = readmeBlock()
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.trim().startsWith("#") && !/^\s+\|/.test(l));
    for (const c of commands) expect(c, c).to.match(/^(curl|openssl) /);
    expect(readmeBlock()).to.match(
      /openssl cms -decrypt -inform DER -binary [^|]*\\\n\s*\| openssl cms -verify -inform DER -binary -CAfile alice\/ca\.pem -purpose any/,
    );
  });

  it("opens and verifies a record the SDK put: the content, signed by alice's own certificate", async function () {
    const client = await clientFromProfile(join(work, "alice"), { passphrase: async () => passphrase });
    let id: string;
    try {
      id = await client.put(new TextEncoder().encode("put by the SDK, read by openssl"));
    } finally {
      client.close();
    }
    const r = await runReadme(id);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.content).to.equal("put by the SDK, read by openssl");
    expect(r.stderr).to.match(/Verification successful/);
    expect(r.stdout).to.match(/^subject=CN = alice$/m);
    expect(r.stdout).to.match(/TLS Web Client Authentication/);
    const signer = await opensslOk(["x509", "-in", join(work, "signer.pem"), "-noout", "-fingerprint", "-sha256"]);
    expect(signer).to.equal(
      await opensslOk(["x509", "-in", join(work, "alice", "cert.pem"), "-noout", "-fingerprint", "-sha256"]),
    );
  });

  it("opens and verifies a record curl uploaded as plaintext: the content, signed by the server's certificate", async function () {
    const up = await curl(`${url}/v1/records`, {
      cacert: ca.paths.rootCert,
      id: {
        certPath: join(work, "alice", "cert.pem"),
        keyPath: join(work, "alice", "key.pem"),
        passFile: join(work, "alice-pass.txt"),
      },
      data: "uploaded by curl",
    });
    expect(up.status, up.body.toString()).to.equal(201);
    const r = await runReadme(json(up).id as string);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.content).to.equal("uploaded by curl");
    expect(r.stdout).to.not.match(/^subject=CN = alice$/m);
    expect(r.stdout).to.match(/TLS Web Server Authentication/);
  });

  it("gives no content for a record forged with openssl cms -encrypt to alice's certificate (unsigned): the pipeline fails", async function () {
    const file = join(work, "forged.der");
    const made = await runProcess(
      "openssl",
      [
        "cms",
        "-encrypt",
        "-aes-256-gcm",
        "-binary",
        "-outform",
        "DER",
        "-out",
        file,
        "-recip",
        join(work, "alice", "cert.pem"),
        "-keyopt",
        "ecdh_kdf_md:sha256",
      ],
      { input: "forged by someone with alice's public certificate" },
    );
    expect(made.code, made.stderr).to.equal(0);
    const up = await curl(`${url}/v1/records`, {
      cacert: ca.paths.rootCert,
      id: {
        certPath: join(work, "alice", "cert.pem"),
        keyPath: join(work, "alice", "key.pem"),
        passFile: join(work, "alice-pass.txt"),
      },
      dataFile: file,
      headers: ["Content-Type: application/pkcs7-mime"],
    });
    expect(up.status, up.body.toString()).to.equal(201);
    const r = await runReadme(json(up).id as string);
    expect(r.code).to.not.equal(0);
    expect(r.content ?? "").to.equal("");
  });
});

describe("npm start (certvault dev): the printed curl lines work as printed", function () {
  this.timeout(180_000);
  let dir: string;
  let child: ReturnType<typeof spawn> | undefined;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), "certvault-dev-"));
  });
  after(async function () {
    const c = child;
    if (c?.pid !== undefined && c.exitCode === null) {
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      process.kill(-c.pid, "SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("GET /v1/me, a plaintext POST, and the one-pipeline read (decrypt | verify) of what it stored", async function () {
    const c = spawn(process.execPath, [CLI_ENTRY, "dev", "--port", "0"], {
      cwd: dir,
      env: cliEnv({
        CERTVAULT_LOG_LEVEL: "error",
        CERTVAULT_RATE_LIMIT_IDENTITY: "0",
        CERTVAULT_RATE_LIMIT_SOURCE: "0",
      }),
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    child = c;
    const printed = await new Promise<string[]>((resolve, reject) => {
      let out = "";
      c.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        const lines = out.split("\n").filter((l) => l.startsWith("  curl "));
        if (lines.length >= 3 && /\| openssl cms -verify[^\n]*\n/.test(out)) resolve(lines.map((l) => l.trim()));
      });
      c.once("exit", (code) => reject(new Error(`certvault dev exited with ${code}: ${out}`)));
    });
    const [me, post, read] = printed as [string, string, string];
    expect(read.split("|").length, "one pipeline: curl | decrypt | verify").to.equal(3);
    expect(read).to.match(
      /\| openssl cms -decrypt -inform DER -binary .* \| openssl cms -verify -inform DER -binary -CAfile \S+ca\.pem -purpose any$/,
    );
    const sh = (line: string) =>
      runProcess("bash", ["-c", `set -o pipefail; ${line}`], { cwd: dir, detached: true, timeoutMs: 60_000 });
    const who = await sh(`${me} -sS`);
    expect(who.code, who.stderr).to.equal(0);
    expect((JSON.parse(who.stdout) as { identity: string }).identity).to.equal("demo");
    const stored = await sh(`${post} -sS`);
    expect(stored.code, stored.stderr).to.equal(0);
    const id = (JSON.parse(stored.stdout) as { id: string }).id;
    expect(id).to.match(/^[0-9a-f]{32}$/);
    const opened = await sh(read.replace("/ID ", `/${id} `));
    expect(opened.code, opened.stderr).to.equal(0);
    expect(opened.stdout).to.equal("hello, vault");
    expect(opened.stderr).to.match(/Verification successful/);
  });
});
