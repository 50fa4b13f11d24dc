/**
 * Signed records (sign-then-encrypt): what signRecord writes, OpenSSL verifies; what verifyRecordSignature accepts is
 * exactly that shape. One test per defect, named after it (docs/envelope.md "Signed records", must-reject list).
 */
import { expect } from "chai";
import * as E from "../../src/envelope/index.js";
import { openContent, seal, signRecord, verifyRecordSignature } from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes, run, thrown } from "./fixtures.js";

const PT = bytes("the signed record");
const BINDING = { owner: "alice", id: "0123456789abcdef0123456789abcdef" };

describe("envelope: signed records", function () {
  this.timeout(60_000);
  let fx: Fixtures;
  let p256: Identity, p256b: Identity, p384: Identity, p521: Identity, rsa: Identity;
  let good: Uint8Array;

  before(async function () {
    fx = await Fixtures.create();
    ({ p256, p256b, p384, p521, rsa } = await fx.standard());
    good = signRecord(PT, { key: p256.key, certificate: p256.certPem }, BINDING);
  });
  after(async () => fx.cleanup());

  const replaced = (der: Uint8Array, from: string | Uint8Array, to: string | Uint8Array): Uint8Array => {
    const buf = Buffer.from(der);
    const a = typeof from === "string" ? Buffer.from(from) : Buffer.from(from);
    const b = typeof to === "string" ? Buffer.from(to) : Buffer.from(to);
    const at = buf.indexOf(a);
    expect(at, "needle in the DER").to.be.greaterThan(0);
    expect(a.length).to.equal(b.length);
    const out = Buffer.from(buf);
    b.copy(out, at);
    return new Uint8Array(out);
  };

  for (const who of ["p256", "p384", "p521", "rsa"] as const) {
    it(`a ${who} signer's record verifies here and with openssl cms -verify, binding and content intact`, async function () {
      const id = { p256, p384, p521, rsa }[who];
      const sd = signRecord(PT, { key: id.key, certificate: id.certPem }, BINDING);
      const v = verifyRecordSignature(sd);
      expect(Buffer.from(v.content).toString()).to.equal("the signed record");
      expect(v.binding).to.deep.equal(BINDING);
      expect(v.signer.der).to.deep.equal(id.certDer);
      const env = seal(sd, [p256b.certPem], { contentType: "signed-data" });
      const inner = await fx.opensslDecrypt(env, p256b);
      const out = await run(
        "openssl",
        ["cms", "-verify", "-binary", "-inform", "DER", "-CAfile", id.certPath, "-purpose", "any"],
        { input: inner },
      );
      expect(out.toString()).to.equal("the signed record");
      expect(openContent(env, p256b.key, p256b.certPem).contentType).to.equal("signed-data");
    });
  }

  it("sealSignedRecord seals exactly signRecord's bytes (no SignedData copy in between), for several recipients", async function () {
    const now = new Date("2026-12-02T10:00:00Z");
    const big = new Uint8Array(3 * 256 * 1024 + 17).map((_, i) => i % 251);
    for (const content of [PT, big]) {
      const signer = { key: rsa.key, certificate: rsa.certPem };
      const env = E.sealSignedRecord(content, signer, BINDING, [p256b.certPem, p384.certPem], { now });
      const expected = signRecord(content, signer, BINDING, { now });
      for (const id of [p256b, p384]) {
        const opened = openContent(env, id.key, id.certPem);
        expect(opened.contentType).to.equal("signed-data");
        // The same bytes but for the RSA-PSS signature at the very end (salted: it differs on every signing).
        expect(opened.content.length).to.equal(expected.length);
        const same = expected.length - 512;
        expect(Buffer.from(opened.content.subarray(0, same)).equals(Buffer.from(expected.subarray(0, same)))).to.equal(
          true,
        );
        expect(Buffer.from(verifyRecordSignature(opened.content).content).equals(Buffer.from(content))).to.equal(true);
      }
      if (content === PT) {
        const inner = await fx.opensslDecrypt(env, p256b);
        expect(Buffer.from(verifyRecordSignature(inner).content).toString()).to.equal("the signed record");
      }
    }
  });

  it("re-wrapping keeps the inner content type and the signature", function () {
    const env = seal(good, [p256.certPem], { contentType: "signed-data" });
    const wider = E.addRecipients(env, p256.key, p256.certPem, [rsa.certPem]);
    const opened = openContent(wider, rsa.key, rsa.certPem);
    expect(opened.contentType).to.equal("signed-data");
    expect(verifyRecordSignature(opened.content).binding).to.deep.equal(BINDING);
  });

  it("key_not_the_certificates", () =>
    thrown(() => signRecord(PT, { key: p256b.key, certificate: p256.certPem }, BINDING), E.KeyMismatchError));
  it("content_altered", () =>
    thrown(
      () => verifyRecordSignature(replaced(good, "the signed record", "the signed recorD")),
      E.InvalidSignatureError,
    ));
  it("owner_altered", () =>
    thrown(() => verifyRecordSignature(replaced(good, "alice", "alicf")), E.InvalidSignatureError));
  it("record_id_altered", () =>
    thrown(
      () => verifyRecordSignature(replaced(good, BINDING.id, "f" + BINDING.id.slice(1))),
      E.InvalidSignatureError,
    ));
  it("trailing_data", () =>
    thrown(() => verifyRecordSignature(new Uint8Array([...good, 0])), E.MalformedEnvelopeError));
  it("truncated", () =>
    thrown(() => verifyRecordSignature(good.subarray(0, good.length - 1)), E.MalformedEnvelopeError));
  it("not_signed_data", () => thrown(() => verifyRecordSignature(seal(PT, [p256.certPem])), E.UnsupportedFeatureError));

  it("openssl_signed_without_binding_attribute", async function () {
    const sd = await run(
      "openssl",
      [
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-outform",
        "DER",
        "-md",
        "sha256",
        "-signer",
        p256.certPath,
        "-inkey",
        p256.keyPath,
      ],
      { input: PT },
    );
    // OpenSSL adds smimeCapabilities and no binding: refused, never read as a record of anyone's.
    expect(() => verifyRecordSignature(new Uint8Array(sd))).to.throw(E.EnvelopeError, /attribute/);
  });
  it("two_signers", async function () {
    const sd = await run(
      "openssl",
      [
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-outform",
        "DER",
        "-md",
        "sha256",
        "-signer",
        p256.certPath,
        "-inkey",
        p256.keyPath,
        "-signer",
        p256b.certPath,
        "-inkey",
        p256b.keyPath,
      ],
      { input: PT },
    );
    expect(() => verifyRecordSignature(new Uint8Array(sd))).to.throw(E.MalformedEnvelopeError, /exactly one signer/);
  });
  it("detached_content", async function () {
    const sd = await run(
      "openssl",
      ["cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-signer", p256.certPath, "-inkey", p256.keyPath],
      { input: PT },
    );
    thrown(() => verifyRecordSignature(new Uint8Array(sd)), E.UnsupportedFeatureError);
  });
  it("digest_not_the_key_types (P-256 signed with SHA-384)", async function () {
    const sd = await run(
      "openssl",
      [
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-outform",
        "DER",
        "-md",
        "sha384",
        "-signer",
        p256.certPath,
        "-inkey",
        p256.keyPath,
      ],
      { input: PT },
    );
    thrown(() => verifyRecordSignature(new Uint8Array(sd)), E.UnsupportedAlgorithmError);
  });
  it("rsa_pkcs1_v1_5_signature", async function () {
    const sd = await run(
      "openssl",
      [
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-outform",
        "DER",
        "-md",
        "sha256",
        "-signer",
        rsa.certPath,
        "-inkey",
        rsa.keyPath,
      ],
      { input: PT },
    );
    thrown(() => verifyRecordSignature(new Uint8Array(sd)), E.UnsupportedAlgorithmError);
  });
});
