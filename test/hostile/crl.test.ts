/**
 * Issue 15, a server that lies about revocation: it replays an older CRL (one that does not yet list a stolen
 * certificate) together with the /v1/me that lists it, serves a CRL of a foreign CA, or lets its CRL go stale. The SDK
 * refuses each with UntrustedCrlError before it seals anything; the CRL number it saw is remembered across clients in
 * the profile's trust.json.
 */
import { expect } from "chai";
import { join } from "node:path";
import { FileTrustState, MemoryTrustState } from "../../src/client-sdk/index.js";
import type { TrustState } from "../../src/client-sdk/index.js";
import { x509 } from "../../src/x509/x509.js";
import { crlNumberOf } from "../../src/client-sdk/crl.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { curl } from "../helpers/curl.js";
import { pemToDer } from "../helpers/openssl.js";
import { answerCrl, answerJson, codeOf, hijack, recordCount } from "../helpers/hostile.js";
import type { Hijack } from "../helpers/hostile.js";
import { eventually } from "../helpers/eventually.js";

describe("hostile server: CRLs rolled back, foreign or stale (issue 15)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let phone: TestIdentity;
  let laptop: TestIdentity;
  let h: Hijack | undefined;
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    phone = await ca.issueClient("alice");
    // A second certificate of alice's that stays good: every put seals to it too, so every put needs the CRL (a
    // client sealing to its own certificate alone has nobody else's revocation to check).
    laptop = await ca.issueClient("alice");
  });
  afterEach(function () {
    h?.restore();
    h = undefined;
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  const client = (
    trustState: TrustState = new MemoryTrustState(),
    clock?: () => Date,
  ): ReturnType<TestServer["client"]> =>
    server.client(alice, { retries: 0, crlMaxAgeMs: 0, trustState, ...(clock ? { clock } : {}) });

  async function serverCrl(): Promise<Buffer> {
    const r = await curl(`${server.url}/v1/crl`, { cacert: join(ca.home, "ca", "root.crt"), id: alice });
    expect(r.status).to.equal(200);
    return r.body;
  }
  const lists = (der: Uint8Array, serial: string): boolean =>
    new x509.X509Crl(new Uint8Array(der)).entries.some(
      (e) => e.serialNumber.toLowerCase().replace(/^0+/, "") === serial,
    );

  /** alice's put fails with untrusted_crl; nothing was sent to be written, no record appeared. */
  async function expectCrlRefused(c: ReturnType<typeof client>): Promise<void> {
    const before = await recordCount(ca, "alice");
    expect(await codeOf(c.put(text("alice's secret")))).to.equal("untrusted_crl");
    expect(h?.writes ?? []).to.deep.equal([]);
    expect(await recordCount(ca, "alice")).to.equal(before);
  }

  it("an older CRL (lower number) than one the client verified, replayed to un-revoke a stolen key: untrusted_crl", async function () {
    const old = await serverCrl();
    expect(lists(old, phone.serial)).to.equal(false);
    const state = new FileTrustState(join(alice.dir, "trust.json"));
    await client(state).put(text("before the phone was stolen"));
    await ca.revoke(phone.serial, "keyCompromise");
    await eventually(async () => lists(await serverCrl(), phone.serial), { what: "the server's CRL lists the phone" });
    await client(state).put(text("after: the client sees the newer CRL"));
    const seen = BigInt(state.load().crlNumber ?? "-1");
    expect(
      seen > crlNumberOf(new x509.X509Crl(new Uint8Array(old))),
      "the client remembers the newer CRL's number",
    ).to.equal(true);

    // The attacker replays the old CRL and the /v1/me from before the theft (listing the phone).
    h = hijack(server, (req, res) => {
      if (req.url === "/v1/crl") return answerCrl(res, old);
      if (req.url === "/v1/me")
        return answerJson(res, {
          identity: "alice",
          serial: alice.serial,
          notAfter: "",
          certificates: [alice.certPem, laptop.certPem, phone.certPem],
          recovery: null,
        });
      return false;
    });
    await expectCrlRefused(client(state)); // a new client of the same profile: trust.json remembers
    expect(state.load().crlNumber).to.equal(seen.toString());
    expect(await codeOf(client(new MemoryTrustState({ crlNumber: seen.toString() })).recipients())).to.equal(
      "untrusted_crl",
    );
  });

  it("a CRL signed by a foreign CA with our CA's names: untrusted_crl", async function () {
    const foreign = await ca.foreign();
    try {
      const forged = pemToDer(await foreign.crl());
      h = hijack(server, (req, res) => req.url === "/v1/crl" && answerCrl(res, forged));
      await expectCrlRefused(client());
    } finally {
      await foreign.cleanup();
    }
  });

  it("a CRL that does not parse: untrusted_crl", async function () {
    h = hijack(server, (req, res) => req.url === "/v1/crl" && answerCrl(res, new TextEncoder().encode("no CRL today")));
    await expectCrlRefused(client());
  });

  it("a stale CRL (past its nextUpdate by the client's clock): untrusted_crl", async function () {
    const nextUpdate = new x509.X509Crl(new Uint8Array(await serverCrl())).nextUpdate as Date;
    await expectCrlRefused(client(new MemoryTrustState(), () => new Date(nextUpdate.getTime() + 60_000)));
  });

  it("control: the genuine CRL passes and the client records its number", async function () {
    const state = new MemoryTrustState();
    await client(state).put(text("fine"));
    expect(state.load().crlNumber).to.equal(
      crlNumberOf(new x509.X509Crl(new Uint8Array(await serverCrl()))).toString(),
    );
  });
});
