import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { AsnConvert, AsnParser } from "@peculiar/asn1-schema";
import { ContentInfo } from "@peculiar/asn1-cms";
import { AuthEnvelopedData, GcmParameters } from "../../src/envelope/asn1.js";
import { inspect, isRecipient, open, recipientsOf, seal } from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes } from "./fixtures.js";

describe("envelope: seal and open", function () {
  let fx: Fixtures;
  let p256: Identity, p256b: Identity, p384: Identity, rsa: Identity;

  before(async function () {
    fx = await Fixtures.create();
    ({ p256, p256b, p384, rsa } = await fx.standard());
  });
  after(async () => fx.cleanup());

  for (const who of ["p256", "p384", "rsa"] as const) {
    it(`round-trips for a ${who} recipient, PEM and DER certificate input alike`, function () {
      const id = { p256, p384, rsa }[who];
      const env = seal(bytes("hello"), [id.certPem]);
      expect(open(env, id.key, id.certPem)).to.deep.equal(bytes("hello"));
      expect(open(env, id.key, id.certDer)).to.deep.equal(bytes("hello"));
    });
  }

  for (const [label, size] of [
    ["empty", 0],
    ["1 byte", 1],
    ["1 MiB", 1 << 20],
    ["16 MiB record", 16 << 20],
  ] as const) {
    it(`seals and opens ${label} plaintext`, function () {
      const pt = new Uint8Array(randomBytes(size));
      const env = seal(pt, [p256.certPem, rsa.certPem]);
      expect(inspect(env).contentBytes).to.equal(size);
      const back = open(env, p256.key, p256.certPem);
      expect(back.length).to.equal(size);
      expect(Buffer.from(back).equals(Buffer.from(pt))).to.equal(true);
      expect(Buffer.from(open(env, rsa.key, rsa.certPem)).equals(Buffer.from(pt))).to.equal(true);
    });
  }

  it("mixed recipients open for each; one KARI per curve holds all recipients of that curve", function () {
    const env = seal(bytes("mixed"), [p256.certPem, p384.certPem, rsa.certPem, p256b.certDer]);
    for (const id of [p256, p256b, p384, rsa]) expect(open(env, id.key, id.certPem)).to.deep.equal(bytes("mixed"));
    const info = inspect(env);
    expect(info.recipients).to.deep.equal({ total: 4, kari: 3, ktri: 1 });
    expect(info.keyAgreements.map((k) => [k.curve, k.recipients]).sort()).to.deep.equal([
      ["P-256", 2],
      ["P-384", 1],
    ]);
    expect(info.contentEncryption).to.include({ name: "aes256-GCM", nonceBytes: 12, tagBytes: 16 });
    expect(info.keyTransports[0]?.hash.name).to.equal("sha256");
  });

  it("seals to a duplicated certificate once", function () {
    const env = seal(bytes("x"), [p256.certPem, p256.certDer]);
    expect(recipientsOf(env)).to.have.length(1);
  });

  it("recipientsOf gives kind, issuer DER + RFC 4514 name and normalised serial; isRecipient agrees", function () {
    const env = seal(bytes("x"), [p256.certPem, rsa.certPem]);
    const ids = recipientsOf(env);
    expect(ids.map((i) => i.kind).sort()).to.deep.equal(["kari", "ktri"]);
    for (const id of ids) {
      expect(id.issuer?.name).to.match(/^O=certvault test,CN=(p256|rsa)$/);
      expect(id.serialNumber)
        .to.match(/^([0-9a-f]{2})+$/)
        .and.not.match(/^00/);
      expect(id.issuer?.der[0]).to.equal(0x30);
    }
    expect(isRecipient(env, p256.certPem)).to.equal(true);
    expect(isRecipient(ids, rsa.certDer)).to.equal(true);
    expect(isRecipient(env, p384.certPem)).to.equal(false);
    expect(isRecipient(ids, p256b.certPem)).to.equal(false);
    // A caller-made id with upper-case hex and a leading zero octet still matches.
    const mine = ids.find((i) => i.kind === "kari")!;
    expect(isRecipient([{ ...mine, serialNumber: `00${mine.serialNumber!.toUpperCase()}` }], p256.certPem)).to.equal(
      true,
    );
    // Kinds must fit: a kari id never names an RSA certificate.
    expect(isRecipient([{ ...ids.find((i) => i.kind === "ktri")!, kind: "kari" }], rsa.certPem)).to.equal(false);
  });

  it("is DER that an independent ASN.1 library reads back field by field and re-encodes identically", function () {
    const env = seal(bytes("asn1"), [p256.certPem, rsa.certPem]);
    const ber = { berOptions: { parseEmbedded: false } };
    const ci = AsnParser.parse(env, ContentInfo, ber);
    expect(ci.contentType).to.equal("1.2.840.113549.1.9.16.1.23");
    const aed = AsnParser.parse(ci.content, AuthEnvelopedData, ber);
    expect(aed.version).to.equal(0);
    expect(aed.authAttrs).to.equal(undefined);
    expect(aed.mac.byteLength).to.equal(16);
    const alg = aed.authEncryptedContentInfo.contentEncryptionAlgorithm;
    expect(alg.algorithm).to.equal("2.16.840.1.101.3.4.1.46");
    const gcm = AsnParser.parse(alg.parameters!, GcmParameters);
    expect([gcm.nonce.byteLength, gcm.icvLen]).to.deep.equal([12, 16]);
    const kari = aed.recipientInfos.find((r) => r.kari)!.kari!;
    expect([kari.version, kari.keyEncryptionAlgorithm.algorithm]).to.deep.equal([3, "1.3.132.1.11.1"]);
    expect(kari.originator.originatorKey?.algorithm.algorithm).to.equal("1.2.840.10045.2.1");
    expect(aed.recipientInfos.find((r) => r.ktri)!.ktri!.keyEncryptionAlgorithm.algorithm).to.equal(
      "1.2.840.113549.1.1.7",
    );
    expect(Buffer.from(AsnConvert.serialize(ci)).equals(Buffer.from(env))).to.equal(true);
  });

  it("returns plain Uint8Arrays that own their memory", function () {
    const env = seal(bytes("own"), [p256.certPem]);
    expect(Object.getPrototypeOf(env)).to.equal(Uint8Array.prototype);
    expect(env.buffer.byteLength).to.equal(env.length);
    const pt = open(env, p256.key, p256.certPem);
    expect(Object.getPrototypeOf(pt)).to.equal(Uint8Array.prototype);
    expect(pt.buffer.byteLength).to.equal(pt.length);
  });

  it("accepts a certificate without KeyUsage (unrestricted)", async function () {
    const noKu = await fx.identity("noku", "p256");
    const env = seal(bytes("free"), [noKu.certPem]);
    expect(open(env, noKu.key, noKu.certPem)).to.deep.equal(bytes("free"));
  });
});
