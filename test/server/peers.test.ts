/**
 * Independent peers at the TLS layer: `openssl s_client` speaks HTTP/1.1 by hand over mTLS, and a certificate that
 * `openssl x509 -req` signed under `faketime` (so it really was issued in the past and has expired) is refused.
 */
import { expect } from "chai";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import { fingerprintOf } from "../../src/ca/authority.js";
import { x509 } from "../../src/x509/x509.js";
import { curl } from "../helpers/curl.js";
import { openssl } from "../helpers/openssl.js";
import { runProcess } from "../helpers/cli.js";
import { requireJudge } from "../helpers/judges.js";

const REQUEST = "GET /v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

describe("server: independent TLS peers", function () {
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

  const sClient = (extra: string[]) =>
    openssl(
      [
        "s_client",
        "-connect",
        `127.0.0.1:${server.port}`,
        "-servername",
        "localhost",
        "-CAfile",
        ca.paths.rootCert,
        "-verify_return_error",
        "-quiet",
        ...extra,
      ],
      { input: REQUEST },
    );

  it("openssl s_client with a client certificate gets GET /v1/me answered", async function () {
    const alice = await ca.issueClient("alice");
    const r = await sClient(["-cert", alice.certPath, "-key", alice.keyPath]);
    expect(r.stdout).to.match(/^HTTP\/1\.1 200 /);
    expect(r.stdout).to.include('"identity":"alice"');
  });

  it("openssl s_client without a client certificate gets no HTTP answer at all", async function () {
    const r = await sClient([]);
    expect(r.stdout).to.not.match(/HTTP\/1\.1/);
  });

  it("refuses a certificate that openssl signed in the past (faketime) and that has since expired", async function () {
    requireJudge(this, "faketime");
    const dir = join(ca.home, "faketime");
    mkdirSync(dir);
    const key = join(dir, "key.pem");
    const csr = join(dir, "req.csr");
    const cert = join(dir, "cert.pem");
    const ext = join(dir, "ext.cnf");
    writeFileSync(
      ext,
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=clientAuth\n",
    );
    expect(
      (
        await openssl([
          "req",
          "-new",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-keyout",
          key,
          "-subj",
          "/CN=old-timer",
          "-out",
          csr,
        ])
      ).code,
    ).to.equal(0);
    const past = new Date(Date.now() - 200 * 86_400_000).toISOString().replace("T", " ").slice(0, 19);
    const signed = await runProcess(
      "faketime",
      [
        past,
        "openssl",
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca.paths.intermediateCert,
        "-CAkey",
        ca.paths.intermediateKey,
        "-passin",
        `file:${ca.passphraseFile}`,
        "-days",
        "30",
        "-extfile",
        ext,
        "-set_serial",
        "0x5eed0000000000000000000000000001",
        "-out",
        cert,
      ],
      { timeoutMs: 30_000 },
    );
    expect(signed.code, signed.stderr).to.equal(0);
    // The peer confirms the premise: signed by our intermediate, and expired.
    const verify = await openssl([
      "verify",
      "-CAfile",
      ca.paths.rootCert,
      "-untrusted",
      ca.paths.intermediateCert,
      cert,
    ]);
    expect(verify.code).to.not.equal(0);
    expect(verify.stdout + verify.stderr).to.match(/certificate has expired/);
    expect((await openssl(["x509", "-in", cert, "-noout", "-checkend", "0"])).code).to.equal(1);
    // In the registry, as if our CA had issued it: only its dates are wrong.
    const pem = readFileSync(cert, "utf8");
    const c = new x509.X509Certificate(pem);
    await new CertificateRepository(ca.db).insert({
      serial: "5eed0000000000000000000000000001",
      identity: "old-timer",
      subject: c.subject,
      profile: "client",
      keyType: "ec-p256",
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      fingerprintSha256: fingerprintOf(c),
      pem,
      createdAt: c.notBefore,
    });

    const r = await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: { certPath: cert, keyPath: key } });
    if (r.exit === 0) expect(r.status).to.be.oneOf([401, 403]);
    else expect(r.body.length).to.equal(0);
    expect(r.body.toString()).to.not.include("old-timer");
    const s = await sClient(["-cert", cert, "-key", key]);
    expect(s.stdout).to.not.match(/HTTP\/1\.1 200/);
  });
});
