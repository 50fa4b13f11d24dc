/**
 * The registry-certificate check (policy/registry-certificate.ts) on its own, one way to fail at a time, and a
 * certificate whose key is outside the key table through a running server.
 */
import { expect } from "chai";
import { X509Certificate, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { anchorsFromPem, vetRegistryCertificate } from "../../src/policy/registry-certificate.js";
import type { CaAnchors, RegistryRow, Verdict } from "../../src/policy/registry-certificate.js";
import { recipientsOf, isRecipient } from "../../src/envelope/index.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { curl, json } from "../helpers/curl.js";
import { opensslOk } from "../helpers/openssl.js";
import { rowsIn } from "../helpers/db.js";

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase();
const rowOf = (pem: string, identity: string): RegistryRow => ({
  serial: normalizeSerial(new X509Certificate(pem).serialNumber),
  identity,
  fingerprintSha256: fingerprint(pem),
  pem,
});

/** A CSR made by openssl for CN=name, signed by our intermediate with openssl and the given extensions. */
async function opensslIssued(ca: TestCA, name: string, keyArgs: string[], ext: string): Promise<string> {
  const dir = join(ca.home, `ossl-${randomBytes(4).toString("hex")}`);
  await opensslOk([
    "req",
    "-new",
    "-newkey",
    ...keyArgs,
    "-nodes",
    "-subj",
    `/CN=${name}`,
    "-keyout",
    `${dir}.key`,
    "-out",
    `${dir}.csr`,
  ]);
  writeFileSync(`${dir}.ext`, ext);
  await opensslOk([
    "x509",
    "-req",
    "-in",
    `${dir}.csr`,
    "-CA",
    ca.paths.intermediateCert,
    "-CAkey",
    ca.paths.intermediateKey,
    "-passin",
    `file:${ca.passphraseFile}`,
    "-set_serial",
    `0x${randomBytes(16).toString("hex").replace(/^./, "5")}`,
    "-days",
    "30",
    "-extfile",
    `${dir}.ext`,
    "-out",
    `${dir}.crt`,
  ]);
  return readFileSync(`${dir}.crt`, "utf8");
}

describe("server: vetting a registry certificate", function () {
  let ca: TestCA;
  let anchors: CaAnchors;
  let alice: TestIdentity;
  const vet = (row: RegistryRow, now = new Date()): Verdict => vetRegistryCertificate(row, anchors, now);
  const refused = (v: Verdict): string => (v.ok ? "accepted" : `${v.kind}: ${v.reason}`);

  before(async function () {
    ca = await createTestCA();
    anchors = anchorsFromPem(ca.rootPem, ca.intermediatePem);
    alice = await ca.issueClient("alice");
  });
  after(async function () {
    await ca?.cleanup();
  });

  it("accepts a client certificate of our CA whose row tells the truth, within its validity only", function () {
    expect(vet(rowOf(alice.certPem, "alice")).ok).to.equal(true);
    expect(refused(vet(rowOf(alice.certPem, "alice"), new Date(Date.now() + 400 * 86_400_000)))).to.match(/^expired/);
  });

  it("refuses a row that lies about the certificate: identity, serial, fingerprint, PEM", function () {
    const row = rowOf(alice.certPem, "alice");
    expect(refused(vet({ ...row, identity: "mallory" }))).to.match(/^hostile: subject CN/);
    expect(refused(vet({ ...row, serial: "1234" }))).to.match(/^hostile: serial/);
    expect(refused(vet({ ...row, fingerprintSha256: "ab".repeat(32) }))).to.match(/^hostile: fingerprint/);
    expect(refused(vet({ ...row, pem: alice.certPem + ca.intermediatePem }))).to.match(/^hostile: the row's PEM/);
    expect(refused(vet({ ...row, pem: alice.certPem.replace(/\n([A-Za-z0-9+/]{10})/, "\n$1!") }))).to.match(
      /^hostile: the row's PEM/,
    );
  });

  it("refuses certificates that are not ours or not sealable client certificates", async function () {
    const foreign = await ca.foreign();
    try {
      const impostor = await foreign.issueClient("alice");
      expect(refused(vet(rowOf(impostor.certPem, "alice")))).to.equal("hostile: not issued by this CA");
    } finally {
      await foreign.cleanup();
    }
    const cases: [Parameters<TestCA["issueClient"]>[1], RegExp][] = [
      [{ eku: "serverAuth" }, /^hostile: no EKU clientAuth/],
      [{ noEku: true }, /^hostile: no EKU clientAuth/],
      [{ caTrue: true }, /^hostile: a CA certificate/],
      [{ keyType: "rsa-1024" }, /^unsealable: .*RSA-1024/],
    ];
    for (const [opts, expected] of cases) {
      const c = await ca.issueClient("alice", { ...opts, unregistered: true });
      expect(refused(vet(rowOf(c.certPem, "alice"))), JSON.stringify(opts)).to.match(expected);
    }
    const noKeyAgreement = await opensslIssued(
      ca,
      "alice",
      ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
      "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    expect(refused(vet(rowOf(noKeyAgreement, "alice")))).to.match(/^hostile: key usage without keyAgreement/);
  });

  it("vets a P-521 certificate like any other (the key table is one: the CA issues it, the envelope seals to it)", async function () {
    const csr = join(ca.home, "paula521.csr");
    await opensslOk([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-521",
      "-nodes",
      "-subj",
      "/CN=paula",
      "-keyout",
      `${csr}.key`,
      "-out",
      csr,
    ]);
    const p521 = await ca.authority.issueFromCsr(readFileSync(csr), { profile: "client", days: 30 });
    expect(refused(vet(rowOf(p521.pem, "paula")))).to.equal("accepted");
  });

  it("leaves a genuine certificate with a key outside the table out of sealing without failing the upload or auditing it", async function () {
    // RSA-1024, signed by our intermediate and in the registry (the kit signs what the CA would refuse): such a
    // certificate can neither log in nor be sealed to; the identity's other certificate still gets the record.
    const weak = await ca.issueClient("carol", { keyType: "rsa-1024" });
    expect(refused(vet(rowOf(weak.certPem, "carol")))).to.match(/^unsealable: .*RSA-1024/);
    const carol = await ca.issueClient("carol");
    const server = await startTestServer({ ca });
    try {
      const rootFile = ca.paths.rootCert;
      const r = await curl(`${server.url}/v1/records`, { cacert: rootFile, id: carol, data: "hello" });
      expect(r.status, r.body.toString()).to.equal(201);
      const got = await curl(`${server.url}/v1/records/${json(r).id as string}`, { cacert: rootFile, id: carol });
      expect(recipientsOf(got.body)).to.have.length(1);
      expect(isRecipient(got.body, carol.certPem)).to.equal(true);
      expect(await rowsIn(ca.db, "audit_entries", { action: "registry.rejected" })).to.equal(0);
    } finally {
      await server.stop();
    }
  });
});
