/**
 * `certvault ca issue` with CSRs made by `openssl req`: the certificates chain to the root for openssl, and carry
 * exactly the client / server profile (basic constraints, key usage, EKU, SKI/AKI, SANs, validity, serial).
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inParallel, runCli, TempDirs } from "../helpers/cli.js";
import type { RunResult } from "../helpers/cli.js";
import { extensionBlock, openssl, opensslOk, x509Text } from "../helpers/openssl.js";
import type { TestCA } from "../../src/testing/index.js";
import { certDates, certSerial, makeCsr } from "../helpers/ca-fixture.js";
import type { CaHome, CsrKind } from "../helpers/ca-fixture.js";
import { backendCa, BACKENDS, keysIn } from "../helpers/ca-backend.js";

const DAY = 86_400_000;
const SLACK = 3 * 60_000;

function extensionTitles(text: string): string[] {
  const section = text.split("X509v3 extensions:")[1]?.split("Signature Algorithm:")[0] ?? "";
  return [...section.matchAll(/^\s+(X509v3 [^:]+):/gm)].map((m) => m[1] as string).sort();
}

function keyId(text: string, title: string): string {
  return (extensionBlock(text, title)?.value ?? "").replace(/^keyid:/, "").split("\n")[0] as string;
}

for (const backend of BACKENDS)
  describe(`ca issue: profiles, checked with openssl ${keysIn(backend)}`, function () {
    this.timeout(60_000);
    const tmp = new TempDirs();
    let testCa: TestCA | undefined;
    let h: CaHome;
    let dir: string;
    let intText: string;

    const verify = (cert: string, extra: string[] = []) =>
      openssl(["verify", ...extra, "-CAfile", h.paths.rootCert, "-untrusted", h.paths.intermediateCert, cert]);

    const clientCases: { kind: CsrKind; ku: string }[] = [
      { kind: "ec-p256", ku: "Digital Signature, Key Agreement" },
      { kind: "ec-p384", ku: "Digital Signature, Key Agreement" },
      { kind: "rsa-3072", ku: "Digital Signature, Key Encipherment" },
    ];
    /** The client-profile issuances, run side by side (independent CLI runs): when each started, and its result. */
    const clientIssues = new Map<CsrKind, { issuedAt: number; r: RunResult }>();

    before(async function () {
      dir = tmp.make();
      ({ ca: testCa, h } = await backendCa(this, backend, { name: "Test" }));
      intText = await x509Text(h.paths.intermediateCert);
      await inParallel(
        clientCases.map((c) => async () => {
          const { csr } = await makeCsr(dir, c.kind, `client-${c.kind}`);
          const issuedAt = Date.now();
          clientIssues.set(c.kind, {
            issuedAt,
            r: await runCli(["ca", "issue", ...h.args, "--csr", csr, "--profile", "client"], { env: h.env }),
          });
        }),
      );
    });
    after(async () => {
      tmp.cleanup();
      await testCa?.cleanup();
    });

    for (const c of clientCases) {
      describe(`client profile, ${c.kind} CSR`, () => {
        let cert: string;
        let text: string;
        let issuedAt: number;

        before(async () => {
          const issued = clientIssues.get(c.kind) as { issuedAt: number; r: RunResult };
          issuedAt = issued.issuedAt;
          const r = issued.r;
          expect(r.code, r.stderr).to.equal(0);
          expect(r.stdout).to.match(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
          cert = join(dir, `client-${c.kind}.crt`);
          await opensslOk(["x509", "-out", cert], { input: r.stdout });
          text = await x509Text(cert);
        });

        it("chains to the root (openssl verify -CAfile root -untrusted intermediate) and is fit for sslclient, not sslserver", async () => {
          const ok = await verify(cert);
          expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
          expect(ok.stdout).to.match(/: OK\n$/);
          expect((await verify(cert, ["-purpose", "sslclient"])).code).to.equal(0);
          expect((await verify(cert, ["-purpose", "sslserver"])).code).to.not.equal(0);
        });

        it("has exactly BC, KU, EKU, SKI, AKI: CA:FALSE (critical), KU critical, EKU clientAuth only", () => {
          expect(extensionTitles(text)).to.deep.equal([
            "X509v3 Authority Key Identifier",
            "X509v3 Basic Constraints",
            "X509v3 Extended Key Usage",
            "X509v3 Key Usage",
            "X509v3 Subject Key Identifier",
          ]);
          expect(extensionBlock(text, "X509v3 Basic Constraints")).to.deep.equal({ critical: true, value: "CA:FALSE" });
          expect(extensionBlock(text, "X509v3 Key Usage")).to.deep.equal({ critical: true, value: c.ku });
          expect(extensionBlock(text, "X509v3 Extended Key Usage")?.value).to.equal("TLS Web Client Authentication");
        });

        it("has AKI = the intermediate's SKI, an SKI of its own, the CSR's CN as subject, the intermediate as issuer", () => {
          expect(keyId(text, "X509v3 Authority Key Identifier"))
            .to.equal(keyId(intText, "X509v3 Subject Key Identifier"))
            .and.match(/^[0-9A-F:]{20,}$/);
          expect(keyId(text, "X509v3 Subject Key Identifier"))
            .to.match(/^[0-9A-F:]{20,}$/)
            .and.not.equal(keyId(intText, "X509v3 Subject Key Identifier"));
          expect(text).to.match(new RegExp(`Subject: CN = client-${c.kind}\\n`));
          expect(text).to.match(/Issuer: CN = Test Issuing CA\n/);
        });

        it("has a positive serial of at least 64 bits and lasts 90 days by default", async () => {
          const { upper } = await certSerial(cert);
          expect(upper).to.match(/^[0-9A-F]+$/);
          expect(BigInt(`0x${upper}`) >= 2n ** 63n).to.equal(true);
          const asn = await opensslOk(["asn1parse", "-in", cert]);
          expect(asn).to.match(/d=2\s+hl=2 l=\s*1[6-9] prim: INTEGER\s+:[1-7]/); // the serial: positive, no 00 pad, >= 16 bytes
          const { notBefore, notAfter } = await certDates(cert);
          expect(notAfter.getTime() - notBefore.getTime()).to.be.within(90 * DAY - SLACK, 90 * DAY + SLACK);
          expect(notBefore.getTime()).to.be.within(issuedAt - SLACK, issuedAt + 1000);
        });
      });
    }

    describe("server profile and options", () => {
      it("--san localhost --san 127.0.0.1: EKU serverAuth, the SANs, 365 days, KU digitalSignature (EC)", async () => {
        const { csr } = await makeCsr(dir, "ec-p256", "svc");
        const cert = join(dir, "svc.crt");
        const r = await runCli(
          [
            "ca",
            "issue",
            ...h.args,
            "--csr",
            csr,
            "--profile",
            "server",
            "--san",
            "localhost",
            "--san",
            "127.0.0.1",
            "--out",
            cert,
          ],
          { env: h.env },
        );
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout, "--out: nothing on stdout").to.equal("");
        const text = await x509Text(cert);
        expect(extensionBlock(text, "X509v3 Extended Key Usage")?.value).to.equal("TLS Web Server Authentication");
        expect(extensionBlock(text, "X509v3 Subject Alternative Name")?.value).to.equal(
          "DNS:localhost, IP Address:127.0.0.1",
        );
        expect(extensionBlock(text, "X509v3 Key Usage")).to.deep.equal({ critical: true, value: "Digital Signature" });
        expect(extensionBlock(text, "X509v3 Basic Constraints")).to.deep.equal({ critical: true, value: "CA:FALSE" });
        expect((await verify(cert, ["-purpose", "sslserver"])).code).to.equal(0);
        expect(
          await opensslOk(["x509", "-in", cert, "-noout", "-checkhost", "localhost", "-checkip", "127.0.0.1"]),
        ).to.match(/does match certificate[\s\S]*does match certificate/);
        expect(await opensslOk(["x509", "-in", cert, "-noout", "-checkhost", "example.com"])).to.match(
          /does NOT match/,
        );
        const { notBefore, notAfter } = await certDates(cert);
        expect(notAfter.getTime() - notBefore.getTime()).to.be.within(365 * DAY - SLACK, 365 * DAY + SLACK);
      });

      it("--days N is honoured and --out writes the PEM certificate to the file", async () => {
        const { csr } = await makeCsr(dir, "ec-p256", "shortlived");
        const cert = join(dir, "shortlived.crt");
        const r = await runCli(
          ["ca", "issue", ...h.args, "--csr", csr, "--profile", "client", "--days", "7", "--out", cert],
          { env: h.env },
        );
        expect(r.code, r.stderr).to.equal(0);
        expect(readFileSync(cert, "utf8")).to.match(/^-----BEGIN CERTIFICATE-----\n/);
        expect((await verify(cert)).code).to.equal(0);
        const { notBefore, notAfter } = await certDates(cert);
        expect(notAfter.getTime() - notBefore.getTime()).to.be.within(7 * DAY - SLACK, 7 * DAY + SLACK);
      });

      it("records every issued certificate in the registry under its lower-case hex serial", async () => {
        const r = await runCli(["ca", "list", "--json", "--home", h.home], { env: h.env });
        expect(r.code, r.stderr).to.equal(0);
        const rows = JSON.parse(r.stdout) as { serial: string; profile: string; subject: string }[];
        expect(rows).to.have.length(5);
        const { lower } = await certSerial(join(dir, "svc.crt"));
        expect(rows.find((x) => x.serial === lower)).to.include({ profile: "server", subject: "CN=svc" });
      });
    });
  });
