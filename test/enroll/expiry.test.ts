/**
 * An expired enrollment token, with the kit's in-process server on an injected clock (no sleeping): refused with the
 * same 401, nothing issued, the refusal and the expiry audited; moved back before the expiry, the same token works
 * (so it is the clock that refused it). Also the other token sources of `enroll` (--token, CERTVAULT_TOKEN).
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { runCli } from "../helpers/cli.js";
import { auditSince, auditTail, listedSerials, makeToken } from "./helpers.js";

describe("enrollment: expired tokens (injected clock) and token sources", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let passFile: string;
  let offsetMs = 0;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, config: { enrollPort: 0 }, now: () => new Date(Date.now() + offsetMs) });
    passFile = join(ca.home, "user-pass.txt");
    writeFileSync(passFile, "a user's long passphrase\n", { mode: 0o600 });
  });
  after(async function () {
    offsetMs = 0;
    await server?.stop();
    await ca?.cleanup();
  });

  it("an expired token: 401 invalid_token, nothing issued, refusal and expiry audited; before its expiry the same token works", async function () {
    expect(server.enrollUrl).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const t = await makeToken(ca, "kim", ["--ttl", "10m"]);
    expect(new Date(t.expiresAt).getTime() - Date.now()).to.be.within(590_000, 600_000);
    const before = await listedSerials(ca);
    const seq = await auditTail(ca);
    offsetMs = 11 * 60_000;
    const args = (dir: string) => [
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
    ];
    const r = await runCli(args(join(ca.home, "kim-late")));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/enrollment token is not valid/);
    expect(await listedSerials(ca)).to.deep.equal(before);
    const entries = await auditSince(ca, seq);
    expect(entries.find((e) => e.action === "enroll.refused")).to.deep.include({
      status: 401,
      detail: { reason: "expired", tokenId: t.id, identity: "kim", code: "invalid_token" },
    });
    const expired = entries.filter((e) => e.action === "enroll.token.expired");
    expect(expired).to.have.length(1);
    expect(expired[0]?.detail).to.deep.include({ tokenId: t.id, identity: "kim" });

    offsetMs = 9 * 60_000;
    const ok = await runCli(args(join(ca.home, "kim")));
    expect(ok.code, ok.stderr).to.equal(0);
    expect((await listedSerials(ca)).length).to.equal(before.length + 1);
  });

  it("the token may come from CERTVAULT_TOKEN; none at all is a usage error (exit 2); --ttl outside 1m..7d is refused", async function () {
    offsetMs = 0;
    const t = await makeToken(ca, "lee");
    const base = [
      "enroll",
      "--server",
      server.enrollUrl as string,
      "--fingerprint",
      t.fingerprint.replace(/:/g, "").toLowerCase(),
      "--passphrase-file",
      passFile,
    ];
    const none = await runCli([...base, "--out", join(ca.home, "lee-none")]);
    expect(none.code).to.equal(2);
    const env = await runCli([...base, "--out", join(ca.home, "lee")], { env: { CERTVAULT_TOKEN: t.token } });
    expect(env.code, env.stderr).to.equal(0);
    for (const ttl of ["30s", "8d", "soon"]) {
      const r = await runCli(["ca", "token", "--name", "lee", "--ttl", ttl, ...ca.cliArgs]);
      expect(r.code, ttl).to.equal(2);
    }
  });

  it("`ca token` prints the token and the fingerprint once, in words; --list shows no token", async function () {
    const r = await runCli(["ca", "token", "--name", "José 李", ...ca.cliArgs]);
    expect(r.code, r.stderr).to.equal(0);
    const token = /^token: +(cvt1\.\S+)$/m.exec(r.stdout)?.[1];
    expect(token).to.be.a("string");
    expect(r.stdout).to.match(/^fingerprint: +([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
    const list = await runCli(["ca", "token", "--list", ...ca.cliArgs]);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.match(/active .*José 李/);
    expect(list.stdout).to.not.include((token as string).split(".")[3]);
    const bad = await runCli(["ca", "token", "--name", "bad\u202ename", ...ca.cliArgs]);
    expect(bad.code).to.equal(1);
  });
});
