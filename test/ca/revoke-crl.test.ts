/**
 * `certvault ca revoke` and `certvault ca crl`: revocation by serial and by certificate file, refusals, and a CRL v2
 * that openssl verifies against the intermediate and uses to report the revoked certificate revoked (error 23).
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, TempDirs } from "../helpers/cli.js";
import { extensionBlock, openssl, opensslOk, x509Text } from "../helpers/openssl.js";
import type { TestCA } from "../../src/testing/index.js";
import { certSerial, registryField } from "../helpers/ca-fixture.js";
import type { CaHome } from "../helpers/ca-fixture.js";
import { backendCa, BACKENDS, keysIn } from "../helpers/ca-backend.js";

for (const backend of BACKENDS)
  describe(`ca revoke and ca crl (CLI, checked with openssl) ${keysIn(backend)}`, function () {
    this.timeout(60_000);
    const tmp = new TempDirs();
    let testCa: TestCA | undefined;
    let h: CaHome;
    let dir: string;
    const certs: string[] = [];
    const serials: string[] = [];
    const crls: { file: string; text: string }[] = [];

    before(async function () {
      dir = tmp.make();
      const made = await backendCa(this, backend, { name: "Test" });
      testCa = made.ca;
      h = made.h;
      for (const name of ["mallory", "bob", "carol"]) {
        const issued = await made.ca.issueClient(name, { days: 30 });
        certs.push(issued.certPath);
        serials.push(issued.serial);
      }
    });
    after(async () => {
      tmp.cleanup();
      await testCa?.cleanup();
    });

    describe("revoke", () => {
      it("--serial as openssl prints it (upper case), --reason keyCompromise: exit 0, stored as revoked", async () => {
        const { upper } = await certSerial(certs[0] as string);
        const r = await runCli(["ca", "revoke", "--home", h.home, "--serial", upper, "--reason", "keyCompromise"], {
          env: h.env,
        });
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout)
          .to.include(serials[0] as string)
          .and.include("keyCompromise");
        expect(await registryField(h.dbFile, serials[0] as string, "status")).to.equal("revoked");
        expect(await registryField(h.dbFile, serials[0] as string, "revocation_reason")).to.equal("keyCompromise");
      });

      it("--cert FILE --reason superseded --json: exit 0, one JSON object", async () => {
        const r = await runCli(
          ["ca", "revoke", "--home", h.home, "--cert", certs[1] as string, "--reason", "superseded", "--json"],
          { env: h.env },
        );
        expect(r.code, r.stderr).to.equal(0);
        const obj = JSON.parse(r.stdout) as Record<string, unknown>;
        expect(obj).to.include({
          serial: serials[1],
          status: "revoked",
          revocationReason: "superseded",
          subject: "CN=bob",
        });
      });

      it("revoking twice: exit 1, already revoked, the first reason kept", async () => {
        const r = await runCli(
          ["ca", "revoke", "--home", h.home, "--serial", serials[0] as string, "--reason", "superseded"],
          { env: h.env },
        );
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(/already revoked/);
        expect(await registryField(h.dbFile, serials[0] as string, "revocation_reason")).to.equal("keyCompromise");
      });

      it("an unknown serial: exit 1 naming it", async () => {
        const r = await runCli(["ca", "revoke", "--home", h.home, "--serial", "7fffffffffffffffffff"], { env: h.env });
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(/no certificate with serial 7fffffffffffffffffff/);
      });

      it("a bad reason (exit 2) and neither/both of --serial/--cert (exit 2) change nothing", async () => {
        const bad = await runCli(
          ["ca", "revoke", "--home", h.home, "--serial", serials[2] as string, "--reason", "certificateHold"],
          { env: h.env },
        );
        expect(bad.code).to.equal(2);
        expect(bad.stderr).to.match(/unknown revocation reason "certificateHold"/);
        const both = await runCli(
          ["ca", "revoke", "--home", h.home, "--serial", serials[2] as string, "--cert", certs[2] as string],
          { env: h.env },
        );
        expect(both.code).to.equal(2);
        expect(both.stderr).to.match(/exactly one of --serial/);
        expect(await registryField(h.dbFile, serials[2] as string, "status")).to.equal("active");
      });
    });

    describe("crl", () => {
      before(async () => {
        const first = await runCli(["ca", "crl", ...h.args], { env: h.env });
        expect(first.code, first.stderr).to.equal(0);
        expect(first.stdout).to.match(/^-----BEGIN X509 CRL-----\n[\s\S]+-----END X509 CRL-----\n$/);
        writeFileSync(join(dir, "crl1.pem"), first.stdout);
        const out = join(dir, "crl2.pem");
        const second = await runCli(["ca", "crl", ...h.args, "--out", out], { env: h.env });
        expect(second.code, second.stderr).to.equal(0);
        expect(second.stdout).to.equal("");
        for (const file of [join(dir, "crl1.pem"), out])
          crls.push({ file, text: await opensslOk(["crl", "-in", file, "-noout", "-text"]) });
      });

      it("is signed by the intermediate: openssl crl -CAfile <intermediate+root> -verify says verify OK", async () => {
        for (const { file } of crls) {
          const v = await openssl(["crl", "-in", file, "-CAfile", h.bundle, "-noout", "-verify"]);
          expect(v.code, v.stderr).to.equal(0);
          expect(v.stdout + v.stderr).to.match(/verify OK/);
        }
        const wrong = await openssl([
          "crl",
          "-in",
          crls[0]?.file as string,
          "-CAfile",
          h.paths.rootCert,
          "-noout",
          "-verify",
        ]);
        expect(wrong.stdout + wrong.stderr).to.not.match(/verify OK/);
      });

      it("is a v2 CRL with an incrementing CRL Number, AKI = intermediate SKI, nextUpdate after thisUpdate", async () => {
        const [a, b] = crls.map((c) => c.text) as [string, string];
        const num = (t: string) => Number(extensionBlock(t, "X509v3 CRL Number")?.value);
        expect(a).to.include("Version 2 (0x1)");
        expect(num(b)).to.equal(num(a) + 1);
        expect(num(a)).to.be.at.least(1);
        const ski = extensionBlock(await x509Text(h.paths.intermediateCert), "X509v3 Subject Key Identifier")?.value;
        expect(extensionBlock(a, "X509v3 Authority Key Identifier")?.value.replace(/^keyid:/, "")).to.equal(ski);
        const last = new Date(/Last Update: (.+)/.exec(a)?.[1] ?? "");
        const next = new Date(/Next Update: (.+)/.exec(a)?.[1] ?? "");
        expect(next.getTime() - last.getTime()).to.equal(7 * 86_400_000);
      });

      it("lists the two revoked serials with their reason codes, and not the active one", () => {
        const text = crls[1]?.text as string;
        const entries = text.split("Serial Number: ").slice(1);
        expect(entries).to.have.length(2);
        const reasonOf = (serial: string) => {
          const e = entries.find((x) => x.toLowerCase().startsWith(serial));
          return /CRL Reason Code:\s*\n\s*(.+)/.exec(e ?? "")?.[1]?.trim();
        };
        expect(reasonOf(serials[0] as string)).to.equal("Key Compromise");
        expect(reasonOf(serials[1] as string)).to.equal("Superseded");
        expect(text.toLowerCase()).to.not.include(serials[2] as string);
      });

      it("makes openssl verify -crl_check report the revoked certificate revoked (error 23) and the active one OK", async () => {
        const check = (cert: string) =>
          openssl([
            "verify",
            "-crl_check",
            "-CRLfile",
            crls[1]?.file as string,
            "-CAfile",
            h.paths.rootCert,
            "-untrusted",
            h.paths.intermediateCert,
            cert,
          ]);
        const revoked = await check(certs[0] as string);
        expect(revoked.code).to.not.equal(0);
        expect(revoked.stdout + revoked.stderr).to.match(/error 23 at 0 depth lookup: certificate revoked/);
        const active = await check(certs[2] as string);
        expect(active.code, active.stdout + active.stderr).to.equal(0);
        expect(active.stdout).to.match(/: OK\n$/);
      });

      it("refuses --days out of range with exit 2", async () => {
        const r = await runCli(["ca", "crl", ...h.args, "--days", "0"], { env: h.env });
        expect(r.code).to.equal(2);
        expect(r.stdout).to.equal("");
      });
    });
  });
