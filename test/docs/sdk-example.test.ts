/**
 * docs/sdk.md's example, run exactly as written (the first ```ts block), against a real server and a profile made the
 * way a user makes one: `certvault keygen`, `certvault ca issue`, the root as ca.pem, the passphrase in a file.
 * `certvault/client-sdk` resolves through the package's exports, under the `source` condition (the TypeScript
 * sources), so the test needs no build.
 */
import { expect } from "chai";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { REPO_ROOT, runCli, runProcess } from "../helpers/cli.js";
import { rowsIn } from "../helpers/db.js";

// The example lives in a temp dir, outside this package: point --import at our tsx by path.
const TSX_LOADER = pathToFileURL(join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

function firstTsBlock(markdown: string): string {
  const m = /```ts\n([\s\S]*?)```/.exec(markdown);
  if (!m?.[1]) throw new Error("docs/sdk.md has no ```ts block");
  return m[1];
}

describe("docs/sdk.md example", function () {
  let ca: TestCA;
  let server: TestServer;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("runs as written and does what it prints", async function () {
    const profile = join(ca.home, "profile");
    const passFile = join(profile, "passphrase");
    mkdirSync(profile, { recursive: true, mode: 0o700 });
    writeFileSync(passFile, "the example's passphrase\n", { mode: 0o600 });
    expect(
      (await runCli(["keygen", "--name", "alice", "--out", profile, "--passphrase-file", passFile])).code,
    ).to.equal(0);
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

    const dir = join(ca.home, "example");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" })); // as in the repository root
    writeFileSync(join(dir, "example.ts"), firstTsBlock(readFileSync(join(REPO_ROOT, "docs", "sdk.md"), "utf8")));
    // As after `npm install certvault`: the package under node_modules (here a link to this checkout).
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(REPO_ROOT, join(dir, "node_modules", "certvault"), "dir");
    const r = await runProcess(process.execPath, ["--conditions=source", "--import", TSX_LOADER, "example.ts"], {
      cwd: dir,
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: join(REPO_ROOT, "tsconfig.json"),
        CERTVAULT_PROFILE: profile,
        CERTVAULT_SERVER: server.url.replace("127.0.0.1", "localhost"),
      },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^signed in as alice with 1 active certificate\(s\)$/m);
    const id = /^stored record ([0-9a-f]{32})$/m.exec(r.stdout)?.[1];
    expect(id, r.stdout).to.be.a("string");
    expect(r.stdout).to.include("read back: blood pressure 120/80, 2026-11-23");
    expect(r.stdout).to.include(`listed ${id}`);
    expect(r.stdout).to.include("deleted: the server answers not_found");
    expect(await rowsIn(ca.db, "records")).to.equal(0);
  });
});
