/**
 * The kit's broken certificates: `openssl x509 -text` (an independent reader) confirms that each variant really has
 * the property it claims, and the real server, reached through the kit's own client factory and through curl,
 * refuses each one. Controls first: the kit's well-formed identities of every key type get in, so a refusal below is
 * about the variant and not about a broken set-up.
 */
import { expect } from "chai";
import { join } from "node:path";
import { ConnectionError, ServerError } from "../../src/client-sdk/index.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { IssueOptions, TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { curl } from "../helpers/curl.js";
import { extensionBlock, openssl, opensslOk, x509Text } from "../helpers/openssl.js";

const DAY = 86_400_000;

async function opensslDates(certPath: string): Promise<{ notBefore: Date; notAfter: Date }> {
  const out = await opensslOk(["x509", "-in", certPath, "-noout", "-startdate", "-enddate"]);
  return {
    notBefore: new Date(/notBefore=(.+)/.exec(out)?.[1] ?? "invalid"),
    notAfter: new Date(/notAfter=(.+)/.exec(out)?.[1] ?? "invalid"),
  };
}

describe("certvault/testing: broken variants are what they claim and the server refuses them", function () {
  let ca: TestCA;
  let foreign: TestCA;
  let server: TestServer;

  before(async function () {
    ca = await createTestCA();
    foreign = await ca.foreign();
    server = await startTestServer({ ca });
  });
  after(async function () {
    await server.stop();
    await foreign.cleanup();
    await ca.cleanup();
  });

  const verifyWith = (root: string, intermediate: string, cert: string, extra: string[] = []) =>
    openssl(["verify", ...extra, "-CAfile", root, "-untrusted", intermediate, cert]);
  const verifyOurs = (cert: string, extra: string[] = []) =>
    verifyWith(ca.paths.rootCert, ca.paths.intermediateCert, cert, extra);

  /** Admitted: GET /v1/me answers with the identity, through the kit's client and through curl. */
  async function expectAdmitted(id: TestIdentity): Promise<void> {
    const me = await server.client(id, { retries: 0 }).me();
    expect(me.identity).to.equal(id.name);
    expect(me.serial).to.equal(id.serial);
    const r = await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id });
    expect(r.status, r.stderr).to.equal(200);
  }

  /** Refused: no identity comes back — the TLS handshake fails, or the answer is 401/403 with a JSON error. */
  async function expectRefused(id: TestIdentity, code?: string): Promise<void> {
    let failed: unknown;
    try {
      await server.client(id, { retries: 0 }).me();
    } catch (err) {
      failed = err;
    }
    expect(failed, "the server admitted it").to.be.an("error");
    if (failed instanceof ServerError) {
      expect(failed.status).to.be.oneOf([401, 403]);
      if (code) expect(failed.code).to.equal(code);
    } else {
      expect(failed, String(failed)).to.be.instanceOf(ConnectionError);
    }
    const r = await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id });
    if (r.exit === 0) {
      expect(r.status).to.be.oneOf([401, 403]);
      expect(r.body.toString()).to.not.include('"identity"');
    } else {
      expect(r.body.length).to.equal(0);
    }
  }

  describe("controls: well-formed identities get in", function () {
    for (const keyType of ["ec-p256", "ec-p384", "rsa-3072", "rsa-2048"] as const) {
      it(`a ${keyType} client certificate chains to the root, is for clientAuth, and is admitted`, async function () {
        const id = await ca.issueClient(`control-${keyType}`, { keyType });
        const v = await verifyOurs(id.certPath, ["-purpose", "sslclient"]);
        expect(v.code, v.stdout + v.stderr).to.equal(0);
        await expectAdmitted(id);
      });
    }
  });

  interface Variant {
    title: string;
    opts: IssueOptions;
    /** What openssl must read in the certificate. */
    confirm: (id: TestIdentity, text: string) => Promise<void>;
    /** The error code when the refusal is an HTTP answer (handshake refusals have none). */
    code?: string;
  }

  const VARIANTS: Variant[] = [
    {
      title: "no EKU",
      opts: { noEku: true },
      code: "certificate_not_allowed",
      confirm: async (id, text) => {
        expect(extensionBlock(text, "X509v3 Extended Key Usage")).to.equal(undefined);
        expect(extensionBlock(text, "X509v3 Basic Constraints")?.value).to.equal("CA:FALSE");
        // The premise of the trap: OpenSSL alone takes it as a TLS client certificate.
        expect((await verifyOurs(id.certPath, ["-purpose", "sslclient"])).code).to.equal(0);
      },
    },
    {
      title: "wrong EKU (serverAuth only)",
      opts: { eku: "serverAuth" },
      confirm: async (id, text) => {
        expect(extensionBlock(text, "X509v3 Extended Key Usage")?.value).to.equal("TLS Web Server Authentication");
        expect((await verifyOurs(id.certPath, ["-purpose", "sslclient"])).code).to.not.equal(0);
      },
    },
    {
      title: "CA:TRUE leaf",
      opts: { caTrue: true },
      code: "certificate_not_allowed",
      confirm: async (id, text) => {
        expect(extensionBlock(text, "X509v3 Basic Constraints")).to.deep.equal({
          critical: true,
          value: "CA:TRUE, pathlen:0",
        });
        expect(extensionBlock(text, "X509v3 Extended Key Usage")?.value).to.equal("TLS Web Client Authentication");
        expect(text).to.match(/Subject: CN = variant-ca-true-leaf\n/);
      },
    },
    {
      title: "expired (explicit dates in the past)",
      opts: { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) },
      confirm: async (id) => {
        const { notBefore, notAfter } = await opensslDates(id.certPath);
        expect(notAfter.getTime()).to.be.below(Date.now());
        expect(notBefore.getTime()).to.be.below(notAfter.getTime());
        expect(
          (await openssl(["x509", "-in", id.certPath, "-noout", "-checkend", "0"])).code,
          "openssl -checkend 0",
        ).to.equal(1);
        const v = await verifyOurs(id.certPath);
        expect(v.stdout + v.stderr).to.match(/certificate has expired/);
      },
    },
    {
      title: "not yet valid (explicit dates in the future)",
      opts: { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) },
      confirm: async (id) => {
        const { notBefore } = await opensslDates(id.certPath);
        expect(notBefore.getTime()).to.be.above(Date.now());
        const v = await verifyOurs(id.certPath);
        expect(v.stdout + v.stderr).to.match(/certificate is not yet valid/);
      },
    },
    {
      title: "signed by this CA but missing from its registry",
      opts: { unregistered: true },
      code: "certificate_not_allowed",
      confirm: async (id) => {
        expect((await verifyOurs(id.certPath)).code).to.equal(0);
        expect(await ca.db("certificates").where({ serial: id.serial }).first()).to.equal(undefined);
      },
    },
  ];

  for (const v of VARIANTS) {
    describe(v.title, function () {
      let id: TestIdentity;
      before(async function () {
        id = await ca.issueClient(
          `variant-${v.title
            .split(" (")[0]
            ?.replace(/[^a-z0-9]+/gi, "-")
            .toLowerCase()}`,
          v.opts,
        );
      });
      it("openssl x509 -text confirms it", async function () {
        await v.confirm(id, await x509Text(id.certPath));
      });
      it("the server refuses it", async function () {
        await expectRefused(id, v.code);
      });
    });
  }

  describe("a foreign CA with the same names (ca.foreign())", function () {
    let id: TestIdentity;
    let ours: TestIdentity;
    before(async function () {
      id = await foreign.issueClient("alice");
      ours = await ca.issueClient("alice");
    });

    it("openssl: same subject and issuer names as ours, other keys, and it chains to the foreign root only", async function () {
      const [theirs, mine] = [await x509Text(id.certPath), await x509Text(ours.certPath)];
      const field = (t: string, re: RegExp) => re.exec(t)?.[1];
      expect(field(theirs, /Subject: (.+)\n/))
        .to.equal(field(mine, /Subject: (.+)\n/))
        .and.equal("CN = alice");
      expect(field(theirs, /Issuer: (.+)\n/))
        .to.equal(field(mine, /Issuer: (.+)\n/))
        .and.equal("CN = certvault test Issuing CA");
      const rootSubject = async (file: string) => (await opensslOk(["x509", "-in", file, "-noout", "-subject"])).trim();
      expect(await rootSubject(foreign.paths.rootCert)).to.equal(await rootSubject(ca.paths.rootCert));
      expect(extensionBlock(theirs, "X509v3 Authority Key Identifier")?.value).to.not.equal(
        extensionBlock(mine, "X509v3 Authority Key Identifier")?.value,
      );
      const fp = async (file: string) =>
        (await opensslOk(["x509", "-in", file, "-noout", "-fingerprint", "-sha256"])).trim();
      expect(await fp(foreign.paths.rootCert)).to.not.equal(await fp(ca.paths.rootCert));
      expect((await verifyWith(foreign.paths.rootCert, foreign.paths.intermediateCert, id.certPath)).code).to.equal(0);
      const cross = await verifyWith(ca.paths.rootCert, ca.paths.intermediateCert, id.certPath);
      expect(cross.code).to.not.equal(0);
      expect(cross.stdout + cross.stderr).to.match(
        /certificate signature failure|unable to get local issuer certificate/,
      );
    });

    it("the server refuses it (and admits our alice)", async function () {
      await expectRefused(id);
      await expectAdmitted(ours);
    });
  });

  describe("a weak key (RSA-1024)", function () {
    let id: TestIdentity;
    before(async function () {
      id = await ca.issueClient("variant-weak-key", { keyType: "rsa-1024" });
    });

    it("openssl x509 -text confirms it: rsaEncryption, 1024 bit, signed by our intermediate", async function () {
      const text = await x509Text(id.certPath);
      expect(text).to.match(/Public Key Algorithm: rsaEncryption\n\s+Public-Key: \(1024 bit\)/);
      expect((await verifyOurs(id.certPath)).code).to.equal(0);
    });

    it("the CA's own issuance refuses the same key size (the kit signs it directly, the CA does not)", async function () {
      const csr = await opensslOk([
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        join(ca.home, "weak.key"),
        "-subj",
        "/CN=weak",
      ]);
      let refused: unknown;
      try {
        await ca.authority.issueFromCsr(csr, { profile: "client", days: 1 });
      } catch (err) {
        refused = err;
      }
      expect((refused as Error | undefined)?.message).to.match(/RSA-1024 is below the minimum of 2048/);
    });

    // Node 20's default OpenSSL security level accepts 1024-bit RSA in the handshake; server/middleware/auth.ts refuses it.
    it("the server refuses it", async function () {
      await expectRefused(id);
    });
  });
});
