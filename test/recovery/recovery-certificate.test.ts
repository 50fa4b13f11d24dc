/**
 * HOME/ca/recovery.crt is a file: someone who can write it must not get everyone's new records sealed to a key of
 * theirs. The server uses it only when it is our CA's active recovery certificate (reserved name, registry row with
 * the same serial and fingerprint, not revoked); anything else on disk is not sealed to nor named in GET /v1/me.
 * After a compromise, `recovery init --replace` revokes it and sets up a new one, end to end.
 */
import { expect } from "chai";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { request, Agent } from "node:https";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { inspect, isRecipient } from "../../src/envelope/index.js";
import { runCli } from "../helpers/cli.js";
import { opensslOk } from "../helpers/openssl.js";
import { eventually } from "../helpers/eventually.js";

describe("the recovery certificate on disk is vetted by the server", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let genuine: string;
  let beforeReplace: string;
  const custodians: TestIdentity[] = [];
  const recoveryFile = (): string => join(ca.home, "ca", "recovery.crt");
  const admin = (args: string[]): ReturnType<typeof runCli> =>
    runCli([...args, ...ca.cliArgs, "--passphrase-file", ca.passphraseFile]);

  /** A plaintext upload (the curl path): the server seals it. Returns the id. */
  async function postPlain(srv: TestServer, text: string): Promise<string> {
    const agent = new Agent({ ca: ca.rootPem, cert: alice.certPem, key: alice.keyPem });
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = request(
          `${srv.url}/v1/records`,
          { method: "POST", agent, headers: { "content-type": "text/plain" } },
          (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString("utf8")));
            res.on("end", () =>
              res.statusCode === 201
                ? resolve((JSON.parse(body) as { id: string }).id)
                : reject(new Error(`${res.statusCode}: ${body}`)),
            );
          },
        );
        req.on("error", reject);
        req.end(text);
      });
    } finally {
      agent.destroy();
    }
  }

  const envelopeOf = async (id: string): Promise<Uint8Array> =>
    new Uint8Array(((await ca.db("records").where({ id }).first("envelope")) as { envelope: Buffer }).envelope);
  const meRecovery = async (srv: TestServer): Promise<string | null | undefined> =>
    (await srv.client(alice).me()).recovery;

  /** Sealed by `srv` now: alice's certificates only, or those and `recovery`; none of `also`. */
  async function expectSealedTo(
    srv: TestServer,
    recovery: string | undefined,
    also: readonly string[] = [],
  ): Promise<void> {
    const env = await envelopeOf(await postPlain(srv, "sealed by the server"));
    expect(isRecipient(env, alice.certPem)).to.equal(true);
    for (const pem of also) expect(isRecipient(env, pem), "a planted certificate is a recipient").to.equal(false);
    const aliceCerts = (await ca.authority.list()).filter(
      (c) => c.identity === "alice" && c.storedStatus === "active",
    ).length;
    expect(inspect(env).recipients.total).to.equal(aliceCerts + (recovery ? 1 : 0));
    if (recovery) expect(isRecipient(env, recovery)).to.equal(true);
    expect(await meRecovery(srv)).to.equal(recovery ?? null);
  }

  /**
   * A recovery.crt planted while the server runs, and one a freshly started server finds: neither is used. Then the
   * vetted certificate is put back, and used again at once.
   */
  async function expectIgnored(planted: string): Promise<void> {
    const vetted = readFileSync(recoveryFile(), "utf8");
    writeFileSync(recoveryFile(), planted);
    await expectSealedTo(server, undefined, [planted, genuine]);
    const fresh = await startTestServer({ ca });
    try {
      await expectSealedTo(fresh, undefined, [planted, genuine]);
    } finally {
      await fresh.stop();
    }
    writeFileSync(recoveryFile(), vetted);
    await expectSealedTo(server, vetted);
  }

  const activeRecoverySerial = async (): Promise<string> =>
    (await ca.authority.list()).find((c) => c.identity === "certvault-recovery" && c.storedStatus === "active")
      ?.serial as string;

  /** Two of the new shares, opened by their custodians with openssl, get alice's newer records back under a new key. */
  async function recoverWithNewShares(shares: string[], renewed: string): Promise<void> {
    const opened = await Promise.all(
      shares.slice(1).map(async (file) => {
        const c = custodians.find((x) => file.includes(x.name)) as TestIdentity;
        const out = join(ca.home, `opened-${c.name}.bin`);
        await opensslOk([
          "cms",
          "-decrypt",
          "-binary",
          "-inform",
          "DER",
          "-in",
          file,
          "-inkey",
          c.keyPath,
          "-recip",
          c.certPath,
          "-out",
          out,
        ]);
        return out;
      }),
    );
    const ids = (await ca.db("records").where({ owner: "alice" }).pluck("id")) as string[];
    const sealedToNew = [];
    for (const id of ids) if (isRecipient(await envelopeOf(id), renewed)) sealedToNew.push(id);
    expect(sealedToNew.length).to.be.greaterThan(0);
    const alice2 = await ca.issueClient("alice");
    expect((await admin(["recovery", "request", "--identity", "alice"])).code).to.equal(0);
    const r = await admin([
      "recover",
      "--identity",
      "alice",
      "--to-cert",
      alice2.certPath,
      ...opened.flatMap((f) => ["--share", f]),
      "--wait-hours",
      "0",
      "--json",
    ]);
    expect(r.code, r.stderr).to.equal(0);
    // Records sealed to the old recovery certificate only are not recoverable with the new shares (the docs say so).
    expect(JSON.parse(r.stdout)).to.deep.equal({
      rewrapped: sealedToNew.length,
      skipped: 0,
      notRecoverable: ids.length - sealedToNew.length,
    });
    expect(new TextDecoder().decode(await server.client(alice2).get(sealedToNew[0] as string))).to.equal(
      "sealed by the server",
    );
  }

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    for (const name of ["custodian-ann", "custodian-ben", "custodian-cid"]) custodians.push(await ca.issueClient(name));
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
    genuine = readFileSync(recoveryFile(), "utf8");
    // Precondition: the genuine certificate is used at once, by the server and in /v1/me.
    await expectSealedTo(server, genuine);
    beforeReplace = await postPlain(server, "sealed before the replacement");
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("a normal client certificate of ours swapped in is not used", async function () {
    await expectIgnored(custodians[0]?.certPem as string);
  });

  it("a certificate of another CA named certvault-recovery is not used", async function () {
    const foreign = await ca.foreign();
    try {
      await expectIgnored((await foreign.issueClient("certvault-recovery")).certPem);
    } finally {
      await foreign.cleanup();
    }
  });

  it("a self-signed certvault-recovery, and one signed by our intermediate but not in the registry, are not used", async function () {
    const self = await opensslOk([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(ca.home, "self-recovery.key"),
      "-subj",
      "/CN=certvault-recovery",
      "-days",
      "30",
      "-addext",
      "keyUsage=digitalSignature,keyAgreement",
      "-addext",
      "extendedKeyUsage=clientAuth",
    ]);
    await expectIgnored(self);
    // What someone holding the intermediate key (a compromised API node) could mint: signed by us, never registered.
    await expectIgnored((await ca.issueClient("certvault-recovery", { unregistered: true })).certPem);
  });

  it("recovery init --replace revokes the old certificate, sets up new shares, and the server seals to the new one at once", async function () {
    const oldSerial = await activeRecoverySerial();
    const r = await admin([
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
      "--json",
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { serial: string; shares: string[]; replaced: string[] };
    expect(out.replaced).to.deep.equal([oldSerial]);
    expect((await ca.authority.show(oldSerial)).revocationReason).to.equal("keyCompromise");
    const renewed = readFileSync(recoveryFile(), "utf8");
    expect(renewed).to.not.equal(genuine);
    await expectSealedTo(server, renewed, [genuine]);
    // The old set is kept aside, not mixed with the new shares; a record sealed before keeps the old recipient.
    expect(readdirSync(join(ca.home, "recovery")).filter((f) => f.startsWith("retired-"))).to.have.length(1);
    expect(isRecipient(await envelopeOf(beforeReplace), genuine)).to.equal(true);
    // The old certificate put back on disk (it is revoked) is not used.
    await expectIgnored(genuine);
    await recoverWithNewShares(out.shares, renewed);
  });

  it("a revoked recovery certificate stops being used (running server and a fresh one)", async function () {
    const current = readFileSync(recoveryFile(), "utf8");
    const serial = await activeRecoverySerial();
    await ca.revoke(serial, "keyCompromise");
    await eventually(async () => (await meRecovery(server)) === null, {
      what: "the server stops naming the revoked recovery certificate",
    });
    await expectSealedTo(server, undefined, [current]);
    const fresh = await startTestServer({ ca });
    try {
      await expectSealedTo(fresh, undefined, [current]);
    } finally {
      await fresh.stop();
    }
  });
});
