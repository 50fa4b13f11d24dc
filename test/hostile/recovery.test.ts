/**
 * Issue 15, a swapped recovery certificate: every record is also sealed to the recovery certificate, so a server that
 * names another one (here a genuine, CA-issued one: `recovery init --replace` run by the CLI, as an attacker with the
 * CA's passphrase or a hasty operator would) must not get records sealed to it behind the user's back. A client seals
 * to the recovery certificate only once its fingerprint is pinned, refuses any other until re-pinned, and writes
 * nothing meanwhile. The fingerprints are openssl's. (The server's own vetting of recovery.crt:
 * test/recovery/recovery-certificate.test.ts; bad custodian sets: test/recovery/hostile-custodians.test.ts.)
 */
import { expect } from "chai";
import { join } from "node:path";
import { MemoryTrustState } from "../../src/client-sdk/index.js";
import { isRecipient } from "../../src/envelope/index.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { runCli } from "../helpers/cli.js";
import { curl, json } from "../helpers/curl.js";
import { opensslOk } from "../helpers/openssl.js";
import { codeOf, recordCount, storedEnvelope } from "../helpers/hostile.js";
import { eventually } from "../helpers/eventually.js";

describe("hostile server: a swapped recovery certificate (issue 15)", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  const custodians: TestIdentity[] = [];
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const admin = (args: string[]): ReturnType<typeof runCli> =>
    runCli([...args, ...ca.cliArgs, "--passphrase-file", ca.passphraseFile]);
  const recoveryFile = (): string => join(ca.home, "ca", "recovery.crt");

  /** The recovery certificate the running server names in /v1/me (null when none). */
  async function named(): Promise<string | null> {
    const r = await curl(`${server.url}/v1/me`, { cacert: join(ca.home, "ca", "root.crt"), id: alice });
    expect(r.status).to.equal(200);
    return (json(r).recovery as string | null | undefined) ?? null;
  }
  /** openssl's SHA-256 fingerprint of HOME/ca/recovery.crt, as an administrator would publish it: lower-case hex. */
  async function fingerprint(): Promise<string> {
    const out = await opensslOk(["x509", "-in", recoveryFile(), "-noout", "-fingerprint", "-sha256"]);
    return out.trim().replace(/^.*=/, "").replace(/:/g, "").toLowerCase();
  }

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    for (const name of ["custodian-ann", "custodian-ben"]) custodians.push(await ca.issueClient(name));
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  it("seals to the pinned recovery certificate only, and refuses a swapped one until re-pinned", async function () {
    const init = await admin([
      "recovery",
      "init",
      ...custodians.flatMap((c) => ["--custodian", c.certPath]),
      "--threshold",
      "2",
      "--wait-hours",
      "0",
    ]);
    expect(init.code, init.stderr).to.equal(0);
    await eventually(async () => (await named()) !== null, { what: "the server names the recovery certificate" });
    const first = (await named()) as string;
    const firstFp = await fingerprint();

    // Not pinned yet: nothing is sealed, to the recovery certificate or at all.
    const before = await recordCount(ca, "alice");
    expect(await codeOf(server.client(alice, { retries: 0 }).put(text("unpinned")))).to.equal("recovery_not_pinned");
    expect(await recordCount(ca, "alice")).to.equal(before);

    const state = new MemoryTrustState();
    const pinned = server.client(alice, { retries: 0, trustState: state });
    expect((await pinned.pinRecovery(firstFp)).fingerprint).to.equal(firstFp);
    const id = await pinned.put(text("sealed to the first recovery certificate"));
    expect(isRecipient(await storedEnvelope(ca, id), first)).to.equal(true);

    // The swap: a new, genuine recovery certificate from the CA (the old one revoked), named by the server at once.
    const replace = await admin([
      "recovery",
      "init",
      "--replace",
      "--reason",
      "keyCompromise",
      ...custodians.flatMap((c) => ["--custodian", c.certPath]),
      "--threshold",
      "2",
      "--wait-hours",
      "0",
    ]);
    expect(replace.code, replace.stderr).to.equal(0);
    await eventually(async () => ![null, first].includes(await named()), {
      what: "the server names the new recovery certificate",
    });
    const second = (await named()) as string;
    const secondFp = await fingerprint();
    expect(secondFp).to.not.equal(firstFp);

    const count = await recordCount(ca, "alice");
    const version = (await pinned.getVersioned(id)).version;
    expect(await codeOf(server.client(alice, { retries: 0, trustState: state }).put(text("after the swap")))).to.equal(
      "recovery_not_pinned",
    );
    expect(await codeOf(pinned.update(id, text("after the swap")))).to.equal("recovery_not_pinned");
    expect(await recordCount(ca, "alice")).to.equal(count);
    expect((await pinned.getVersioned(id)).version).to.equal(version);
    expect(isRecipient(await storedEnvelope(ca, id), second)).to.equal(false);
    // Re-pinning with the old fingerprint is refused too; the user pins the new one deliberately.
    expect(await codeOf(pinned.pinRecovery(firstFp))).to.equal("recovery_not_pinned");
    expect(state.load().recoveryFingerprint).to.equal(firstFp);
    await pinned.pinRecovery(secondFp);
    const after = await pinned.put(text("sealed to the new recovery certificate"));
    const env = await storedEnvelope(ca, after);
    expect([isRecipient(env, second), isRecipient(env, first)]).to.deep.equal([true, false]);
    expect(new TextDecoder().decode(await pinned.get(after))).to.equal("sealed to the new recovery certificate");
  });
});
