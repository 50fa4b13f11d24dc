/**
 * Property: whatever subset of issued certificates is revoked (with whatever reasons), the CRL built by
 * CertificateAuthority.crl() lists exactly that subset with those reasons, is signed by the intermediate, and its CRL
 * number grows. Library only (no CLI); openssl reads every CRL as the independent peer.
 */
import { expect } from "chai";
import fc from "fast-check";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CRLNumber, id_ce_cRLNumber } from "@peculiar/asn1-x509";
import { x509 } from "../../src/x509/x509.js";
import { REASONS } from "../../src/ca/reasons.js";
import type { ReasonName } from "../../src/ca/reasons.js";
import type { TestCA } from "../../src/testing/index.js";
import { ecPublicKey, openAuthority } from "../helpers/ca-fixture.js";
import { backendCa, BACKENDS, keysIn } from "../helpers/ca-backend.js";
import type { Signer } from "../../src/ca/sign.js";
import { opensslOk } from "../helpers/openssl.js";

const OPENSSL_REASON: Record<ReasonName, string> = {
  unspecified: "Unspecified",
  keyCompromise: "Key Compromise",
  cACompromise: "CA Compromise",
  affiliationChanged: "Affiliation Changed",
  superseded: "Superseded",
  cessationOfOperation: "Cessation Of Operation",
  privilegeWithdrawn: "Privilege Withdrawn",
  aACompromise: "AA Compromise",
};
const reasonNames = Object.keys(REASONS) as ReasonName[];

function crlNumberOf(crl: x509.X509Crl): number {
  const ext = crl.getExtension(id_ce_cRLNumber);
  if (!ext) throw new Error("CRL without a CRL number");
  return Number(AsnConvert.parse(ext.value, CRLNumber).value);
}

/** Serial -> reason text ("" when the entry has no reason code) as `openssl crl -text` reads the DER. */
async function opensslEntries(der: ArrayBuffer): Promise<Map<string, string>> {
  const text = await opensslOk(["crl", "-inform", "DER", "-noout", "-text"], { input: new Uint8Array(der) });
  const out = new Map<string, string>();
  const blocks = text.split(/Serial Number: /).slice(1);
  for (const b of blocks) {
    const serial = (/^([0-9A-F]+)/.exec(b)?.[1] ?? "").toLowerCase();
    out.set(serial, /CRL Reason Code:\s*\n\s*(.+)/.exec(b)?.[1]?.trim() ?? "");
  }
  return out;
}

for (const backend of BACKENDS)
  describe(`CRL property (library): the CRL lists exactly the revoked certificates ${keysIn(backend)}`, function () {
    this.timeout(60_000);
    let testCa: TestCA | undefined;
    let signer: Signer;
    let keys: CryptoKey[];

    before(async function () {
      testCa = (await backendCa(this, backend, { name: "Test" })).ca;
      signer = await testCa.signer();
      keys = await Promise.all(Array.from({ length: 5 }, () => ecPublicKey()));
    });
    after(() => testCa?.cleanup());

    it("for random N <= 20 and random revoked subsets and reasons", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc
            .integer({ min: 1, max: 20 })
            .chain((n) =>
              fc.array(fc.option(fc.constantFrom(...reasonNames), { nil: undefined }), { minLength: n, maxLength: n }),
            ),
          async (plan) => {
            const { ca, db } = await openAuthority(testCa as TestCA, { db: ":memory:" });
            try {
              const expected = new Map<string, ReasonName>();
              const serials: string[] = [];
              for (const [i, reason] of plan.entries()) {
                const issued = await ca.issueForKey({
                  publicKey: keys[i % keys.length] as CryptoKey,
                  commonName: `user${i}`,
                  family: "EC",
                  keyType: "ec-p256",
                  profile: "client",
                  days: 30,
                });
                serials.push(issued.record.serial);
                if (reason !== undefined) {
                  await ca.revoke(issued.record.serial, reason);
                  expected.set(issued.record.serial, reason);
                }
              }
              expect(new Set(serials).size, "serials are unique").to.equal(plan.length);

              const first = await ca.crl();
              const crl = new x509.X509Crl(first.rawData);
              expect(
                await crl.verify({ publicKey: signer.certificate.publicKey }),
                "signed by the intermediate",
              ).to.equal(true);
              expect(crl.issuer).to.equal(signer.certificate.subject);
              const listed = new Map(crl.entries.map((e) => [e.serialNumber.toLowerCase(), e.reason]));
              expect([...listed.keys()].sort()).to.deep.equal([...expected.keys()].sort());
              for (const [serial, reason] of expected) {
                expect(listed.get(serial), serial).to.equal(reason === "unspecified" ? undefined : REASONS[reason]);
              }

              const peer = await opensslEntries(first.rawData);
              expect([...peer.keys()].sort()).to.deep.equal([...expected.keys()].sort());
              for (const [serial, reason] of expected)
                expect(peer.get(serial), serial).to.equal(reason === "unspecified" ? "" : OPENSSL_REASON[reason]);

              const second = await ca.crl();
              expect(crlNumberOf(second)).to.equal(crlNumberOf(first) + 1);
            } finally {
              await db.destroy();
            }
          },
        ),
        { numRuns: 10 },
      );
    });
  });
