/**
 * Issue 15 ("the recovery recipient is pinned in the profile when the profile is made"): once recovery is set up,
 * `certvault enroll` pins the recovery certificate the enrollment server names (after checking it chains to the
 * root pinned by fingerprint and carries the reserved name) in DIR/trust.json, so the new user's first `put` is
 * sealed to it with no separate `recovery pin`. Before recovery exists, nothing is pinned.
 */
import { expect } from "chai";
import { X509Certificate, createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { isRecipient } from "../../src/envelope/index.js";
import { runCli } from "../helpers/cli.js";
import { makeToken } from "./helpers.js";

describe("enrollment pins the recovery certificate (issue 15)", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let passFile: string;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, config: { enrollPort: 0 } });
    passFile = join(ca.home, "user-pass.txt");
    writeFileSync(passFile, "a user's long passphrase\n", { mode: 0o600 });
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  const enroll = async (name: string): Promise<string> => {
    const t = await makeToken(ca, name);
    const dir = join(ca.home, name);
    const r = await runCli([
      "enroll",
      "--server",
      server.enrollUrl as string,
      "--token",
      t.token,
      "--fingerprint",
      t.fingerprint,
      "--out",
      dir,
      "--passphrase-file",
      passFile,
    ]);
    expect(r.code, r.stderr).to.equal(0);
    return dir;
  };

  it("pins nothing before recovery exists, and the recovery certificate once it does; the first put is sealed to it", async function () {
    const early = await enroll("early-user");
    expect(
      existsSync(join(early, "trust.json")) &&
        readFileSync(join(early, "trust.json"), "utf8").includes("recoveryFingerprint"),
    ).to.equal(false);

    const custodians = [await ca.issueClient("custodian-a"), await ca.issueClient("custodian-b")];
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
    const recoveryPem = readFileSync(join(ca.home, "ca", "recovery.crt"), "utf8");
    const fingerprint = createHash("sha256").update(new X509Certificate(recoveryPem).raw).digest("hex");

    const late = await enroll("late-user");
    expect(JSON.parse(readFileSync(join(late, "trust.json"), "utf8"))).to.deep.include({
      recoveryFingerprint: fingerprint,
    });
    const put = await runCli(["put", "--profile", late, "--passphrase-file", passFile, join(ca.home, "user-pass.txt")]);
    expect(put.code, put.stderr).to.equal(0);
    const stored = (await ca.db("records").where({ id: put.stdout.trim() }).first("envelope")) as { envelope: Buffer };
    expect(isRecipient(new Uint8Array(stored.envelope), recoveryPem)).to.equal(true);
    // The profile made before recovery still needs the explicit pin: it never picks one up silently.
    const unpinned = await runCli([
      "put",
      "--profile",
      early,
      "--passphrase-file",
      passFile,
      join(ca.home, "user-pass.txt"),
    ]);
    expect(unpinned.code).to.equal(1);
    expect(unpinned.stderr).to.match(/recovery pin/);
  });
});
