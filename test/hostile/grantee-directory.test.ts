/**
 * Issue 21, an SDK finding: when an owner's update() or unshare() lists the record's grantees' certificates (GET
 * /v1/directory/IDENTITY), a certificate it cannot trust is an explicit outcome, never a grantee silently dropped: a
 * foreign CA's certificate or a revoked one for the grantee is UntrustedCertificateError, a failed directory answer
 * (500, a hang-up) propagates, and in each case nothing is written and the grantee can still read the record.
 * The server lies through hijack() (root on the API node); its database, TLS and CRL stay the real ones.
 */
import { expect } from "chai";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { UntrustedCertificateError } from "../../src/client-sdk/index.js";
import type { CertvaultClient } from "../../src/client-sdk/index.js";
import { answerJson, codeOf, errorOf, hijack } from "../helpers/hostile.js";
import type { Lie } from "../helpers/hostile.js";

describe("hostile server: the grantees' directory during update and unshare (issue 21)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let bob: TestIdentity;
  let owner: CertvaultClient;
  let id: string;
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const read = async (who: TestIdentity): Promise<string> =>
    new TextDecoder().decode(await server.client(who, { retries: 0 }).get(id, { owner: "alice" }));

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    bob = await ca.issueClient("bob");
    await ca.issueClient("carol");
    owner = server.client(alice, { retries: 0 });
    id = await owner.put(text("shared with bob and carol"));
    await owner.share(id, "bob");
    await owner.share(id, "carol");
    expect(await read(bob)).to.equal("shared with bob and carol");
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  /** A new client of alice's: it verifies the server's current CRL before it seals (its own is at most crlMaxAgeMs old). */
  const fresh = (): CertvaultClient => server.client(alice, { retries: 0 });

  /** Runs `op` (on a fresh client of alice's) with bob's directory answered by `lie`; returns the error and the writes that reached the server. */
  async function withBobsDirectory(
    lie: Lie,
    op: (c: CertvaultClient) => Promise<unknown>,
  ): Promise<{ err: unknown; writes: string[] }> {
    const h = hijack(server, (req, res) => (req.url === "/v1/directory/bob" ? lie(req, res) : false));
    try {
      return { err: await errorOf(op(fresh())), writes: h.writes };
    } finally {
      h.restore();
    }
  }

  const lies: [string, () => Promise<Lie>, string][] = [
    [
      "a foreign CA's certificate named bob",
      async () => {
        const foreign = await ca.foreign();
        const impostor = await foreign.issueClient("bob");
        await foreign.cleanup();
        return (_req, res) => answerJson(res, { identity: "bob", certificates: [impostor.certPem] });
      },
      "untrusted_certificate",
    ],
    [
      "bob's revoked certificate (on the CRL the client verifies)",
      async () => {
        const stolen = await ca.issueClient("bob");
        await ca.revoke(stolen, "keyCompromise");
        await server.syncRegistry(); // the server's CRL lists it from now on
        return (_req, res) => answerJson(res, { identity: "bob", certificates: [bob.certPem, stolen.certPem] });
      },
      "untrusted_certificate",
    ],
    [
      "a 500 answer",
      async () => (_req, res) => answerJson(res, { error: { code: "internal_error", message: "x" } }, 500),
      "internal_error",
    ],
    ["a hang-up", async () => (req) => (req.socket.destroy(), true), "connection_failed"],
  ];

  for (const [what, makeLie, code] of lies) {
    it(`update(): ${what} is ${code}, nothing is written, bob still reads the record`, async function () {
      const { err, writes } = await withBobsDirectory(await makeLie(), (c) => c.update(id, text("v2")));
      expect((err as { code?: string } | undefined)?.code, String(err)).to.equal(code);
      if (code === "untrusted_certificate") expect(err).to.be.instanceOf(UntrustedCertificateError);
      expect(writes, "writes while the directory lied").to.deep.equal([]);
      expect(await read(bob)).to.equal("shared with bob and carol");
    });

    it(`unshare() of carol: ${what} for bob is ${code}, bob is not dropped, nothing is written`, async function () {
      const { err, writes } = await withBobsDirectory(await makeLie(), (c) => c.unshare(id, "carol"));
      expect((err as { code?: string } | undefined)?.code, String(err)).to.equal(code);
      expect(writes, "writes while the directory lied").to.deep.equal([]);
      expect(await read(bob)).to.equal("shared with bob and carol");
    });
  }

  it("with the genuine directory, update() keeps both grantees", async function () {
    expect(await codeOf(fresh().update(id, text("v2, honestly")))).to.equal("ok");
    expect(await read(bob)).to.equal("v2, honestly");
  });
});
