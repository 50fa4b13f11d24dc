/**
 * The issued certificate names exactly the CN of the CSR, whatever characters it holds. Regression: subjects used to be
 * built from a DN string, and @peculiar/x509 reads a value starting with "#" as hex DER, so a CSR with CN
 * "#0c03626f62" got a certificate for CN=bob (another identity); a trailing backslash gave an empty CN.
 */
import { expect } from "chai";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";
import { x509 } from "../../src/x509/x509.js";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import type { Db } from "../../src/store/db.js";
import { TempDirs } from "../helpers/cli.js";
import type { TestCA } from "../../src/testing/index.js";
import { makeCsr, openAuthority } from "../helpers/ca-fixture.js";
import { backendCa, BACKENDS, keysIn } from "../helpers/ca-backend.js";
import { opensslOk } from "../helpers/openssl.js";

for (const backend of BACKENDS)
  describe(`ca issue: the certificate's CN is the CSR's CN, verbatim ${keysIn(backend)}`, function () {
    this.timeout(60_000);
    const tmp = new TempDirs();
    let dir: string;
    let testCa: TestCA | undefined;
    let ca: CertificateAuthority;
    let db: Db | undefined;
    let keys: CryptoKeyPair;

    before(async function () {
      dir = tmp.make();
      testCa = (await backendCa(this, backend, { name: "Test" })).ca;
      ({ ca, db } = await openAuthority(testCa, { db: ":memory:" }));
      keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
        "sign",
        "verify",
      ])) as CryptoKeyPair;
    });
    after(async () => {
      await db?.destroy();
      tmp.cleanup();
      await testCa?.cleanup();
    });

    async function subjectByOpenssl(pem: string): Promise<string> {
      return (await opensslOk(["x509", "-noout", "-subject", "-nameopt", "RFC2253"], { input: pem })).trim();
    }

    it('CN "#0c03626f62" (the DER of UTF8String "bob") stays "#0c03626f62", never becomes CN=bob', async () => {
      const { csr } = await makeCsr(dir, "ec-p256", "#0c03626f62");
      const issued = await ca.issueFromCsr(readFileSync(csr), { profile: "client", days: 1 });
      expect(issued.record.identity).to.equal("#0c03626f62");
      expect(await subjectByOpenssl(issued.pem)).to.equal("subject=CN=\\#0c03626f62");
      expect(new x509.X509Certificate(issued.pem).subjectName.getField("CN")).to.deep.equal(["#0c03626f62"]);
    });

    it("a CN ending in a backslash keeps it (it used to vanish, leaving CN= empty)", async () => {
      const { csr } = await makeCsr(dir, "ec-p256", "bob\\\\");
      const issued = await ca.issueFromCsr(readFileSync(csr), { profile: "client", days: 1 });
      expect(await subjectByOpenssl(issued.pem)).to.equal("subject=CN=bob\\\\");
      expect(new x509.X509Certificate(issued.pem).subjectName.getField("CN")).to.deep.equal(["bob\\"]);
    });

    it("property: for any acceptable CN, the certificate's only subject attribute is that CN and the registry identity equals it", async () => {
      const cn = fc
        .string({
          unit: fc.constantFrom("#", "\\", ",", "+", "=", "<", ">", ";", '"', " ", "a", "B", "0", "é", "😀", "-", "."),
          minLength: 1,
          maxLength: 30,
        })
        .filter((s) => s.trim() === s && !s.includes("  ") && s.length <= 64); // the safe set: single spaces inside only
      await fc.assert(
        fc.asyncProperty(cn, async (name) => {
          const csr = await x509.Pkcs10CertificateRequestGenerator.create({
            name: new x509.Name([{ CN: [{ utf8String: name }] }]),
            keys,
            signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
          });
          const issued = await ca.issueFromCsr(new Uint8Array(csr.rawData), { profile: "client", days: 1 });
          const cert = new x509.X509Certificate(issued.pem);
          expect(cert.subjectName.toJSON()).to.deep.equal([{ CN: [name] }]);
          expect(issued.record.identity).to.equal(name);
          expect(cert.issuerName.toString()).to.equal("CN=Test Issuing CA");
        }),
        { numRuns: 150 },
      );
    });
  });
