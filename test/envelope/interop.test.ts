import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { inspect, open, recipientsOf, seal } from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes } from "./fixtures.js";
import { referenceSeal } from "./reference.js";

describe("envelope: interoperability with openssl cms", function () {
  let fx: Fixtures;
  let p256: Identity, p256b: Identity, p384: Identity, p521: Identity, rsa: Identity;
  let all: Identity[];

  before(async function () {
    fx = await Fixtures.create();
    ({ p256, p256b, p384, p521, rsa } = await fx.standard());
    all = [p256, p384, p521, rsa];
  });
  after(async () => fx.cleanup());

  for (const name of ["p256", "p384", "p521", "rsa"] as const) {
    it(`certvault seals to ${name}, openssl cms -decrypt opens byte-identically`, async function () {
      const who = { p256, p384, p521, rsa }[name];
      const pt = new Uint8Array(randomBytes(4096));
      expect(await fx.opensslDecrypt(seal(pt, [who.certPem]), who)).to.deep.equal(pt);
    });

    it(`openssl cms -encrypt -aes-256-gcm seals to ${name}, certvault opens`, async function () {
      const who = { p256, p384, p521, rsa }[name];
      const pt = new Uint8Array(randomBytes(3000));
      const env = await fx.opensslEncrypt(pt, [who]);
      expect(open(env, who.key, who.certPem)).to.deep.equal(pt);
    });
  }

  it("empty and binary plaintexts survive both directions", async function () {
    for (const pt of [new Uint8Array(0), Uint8Array.of(0, 13, 10, 26, 255)]) {
      expect(await fx.opensslDecrypt(seal(pt, [p256.certPem]), p256)).to.deep.equal(pt);
      expect(open(await fx.opensslEncrypt(pt, [rsa]), rsa.key, rsa.certPem)).to.deep.equal(pt);
    }
  });

  it("a mixed P-256 + P-384 + P-521 + RSA message opens for each recipient, in certvault and in openssl", async function () {
    const pt = bytes("for three");
    const ours = seal(
      pt,
      all.map((w) => w.certPem),
    );
    const theirs = await fx.opensslEncrypt(pt, all);
    for (const who of all) {
      expect(open(ours, who.key, who.certPem)).to.deep.equal(pt);
      expect(open(theirs, who.key, who.certPem)).to.deep.equal(pt);
      expect(await fx.opensslDecrypt(ours, who)).to.deep.equal(pt);
    }
    expect(inspect(theirs).recipients).to.deep.equal({ total: 4, kari: 3, ktri: 1 });
  });

  it("two P-256 recipients sharing one ephemeral key both open in openssl", async function () {
    const env = seal(bytes("shared"), [p256.certPem, p256b.certPem]);
    expect(inspect(env).keyAgreements).to.have.length(1);
    for (const who of [p256, p256b]) expect(await fx.opensslDecrypt(env, who)).to.deep.equal(bytes("shared"));
  });

  it("opens openssl envelopes whose recipients are identified by subjectKeyIdentifier (-keyid)", async function () {
    const env = await fx.opensslEncrypt(bytes("by ski"), all, ["-keyid"]);
    const ids = recipientsOf(env);
    expect(ids.every((i) => /^[0-9a-f]+$/.test(i.subjectKeyIdentifier ?? ""))).to.equal(true);
    for (const who of all) expect(open(env, who.key, who.certPem)).to.deep.equal(bytes("by ski"));
  });

  it("the reference encoder agrees with openssl (validating the negative tests' baseline)", async function () {
    const env = referenceSeal(bytes("reference"), all);
    for (const who of all) {
      expect(await fx.opensslDecrypt(env, who)).to.deep.equal(bytes("reference"));
      expect(open(env, who.key, who.certPem)).to.deep.equal(bytes("reference"));
    }
  });

  it("uses the ukm as entityUInfo in the KDF: openssl and certvault open a ukm envelope", async function () {
    const ukm = new Uint8Array(randomBytes(64));
    for (const who of [p256, p384, p521]) {
      const env = referenceSeal(bytes("with ukm"), [who], { ukm });
      expect(inspect(env).keyAgreements[0]?.ukmBytes).to.equal(64);
      expect(await fx.opensslDecrypt(env, who)).to.deep.equal(bytes("with ukm"));
      expect(open(env, who.key, who.certPem)).to.deep.equal(bytes("with ukm"));
    }
  });

  it("SKI-identified recipients from the reference encoder open (KTRI v2 and rKeyId)", function () {
    const env = referenceSeal(bytes("ski"), [p256, rsa], { bySubjectKeyIdentifier: true });
    for (const who of [p256, rsa]) expect(open(env, who.key, who.certPem)).to.deep.equal(bytes("ski"));
  });
});
