import { expect } from "chai";
import { AsnParser, AsnConvert } from "@peculiar/asn1-schema";
import { ContentInfo } from "@peculiar/asn1-cms";
import { AuthEnvelopedData } from "../../src/envelope/asn1.js";
import {
  DecryptionFailedError,
  LastRecipientError,
  NoMatchingRecipientError,
  TooManyRecipientsError,
  addRecipients,
  inspect,
  open,
  recipientsOf,
  removeRecipients,
  seal,
} from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes, thrown } from "./fixtures.js";

const ber = { berOptions: { parseEmbedded: false } };

/** encryptedContentInfo (algorithm + nonce + ciphertext) and mac, as DER, from an independent parser. */
function contentOf(env: Uint8Array): Buffer[] {
  const aed = AsnParser.parse(AsnParser.parse(env, ContentInfo, ber).content, AuthEnvelopedData, ber);
  return [Buffer.from(AsnConvert.serialize(aed.authEncryptedContentInfo)), Buffer.from(aed.mac.buffer)];
}

describe("envelope: addRecipients / removeRecipients", function () {
  let fx: Fixtures;
  let p256: Identity, p256b: Identity, p384: Identity, rsa: Identity;
  const pt = bytes("rewrapped record");

  before(async function () {
    fx = await Fixtures.create();
    ({ p256, p256b, p384, rsa } = await fx.standard());
  });
  after(async () => fx.cleanup());

  it("adds P-384, RSA and P-256 recipients without touching the content; all open, also in openssl", async function () {
    const env = seal(pt, [p256.certPem]);
    const more = addRecipients(env, p256.key, p256.certPem, [p384.certPem, rsa.certPem, p256b.certPem]);
    expect(contentOf(more)).to.deep.equal(contentOf(env));
    for (const who of [p256, p256b, p384, rsa]) {
      expect(open(more, who.key, who.certPem)).to.deep.equal(pt);
      expect(await fx.opensslDecrypt(more, who)).to.deep.equal(pt);
    }
    // The original KARI is copied verbatim; the new P-256 recipient gets a KARI of its own.
    expect(
      inspect(more)
        .keyAgreements.map((k) => k.curve)
        .sort(),
    ).to.deep.equal(["P-256", "P-256", "P-384"]);
  });

  it("adds recipients to an openssl-made envelope, opened by an RSA recipient", async function () {
    const env = await fx.opensslEncrypt(pt, [rsa]);
    const more = addRecipients(env, rsa.key, rsa.certPem, [p256.certPem]);
    expect(contentOf(more)).to.deep.equal(contentOf(env));
    expect(await fx.opensslDecrypt(more, p256)).to.deep.equal(pt);
  });

  it("skips certificates that already are recipients", function () {
    const env = seal(pt, [p256.certPem, rsa.certPem]);
    const same = addRecipients(env, rsa.key, rsa.certPem, [p256.certDer]);
    expect(recipientsOf(same)).to.have.length(2);
  });

  it("refuses to add with a wrong opening key, and beyond maxRecipients", function () {
    const env = seal(pt, [p256.certPem]);
    thrown(() => addRecipients(env, p256b.key, p256.certPem, [rsa.certPem]), DecryptionFailedError);
    thrown(
      () => addRecipients(env, p256.key, p256.certPem, [rsa.certPem], { maxRecipients: 1 }),
      TooManyRecipientsError,
    );
  });

  it("removes a recipient: the content is unchanged and the removed one can no longer open", async function () {
    const env = seal(pt, [p256.certPem, p384.certPem, rsa.certPem]);
    const less = removeRecipients(env, [p384.certPem]);
    expect(contentOf(less)).to.deep.equal(contentOf(env));
    thrown(() => open(less, p384.key, p384.certPem), NoMatchingRecipientError);
    await fx.opensslDecrypt(less, p384).then(
      () => expect.fail("openssl opened it"),
      () => undefined,
    );
    for (const who of [p256, rsa]) expect(open(less, who.key, who.certPem)).to.deep.equal(pt);
  });

  it("removes one of two recipients sharing a KARI (re-encoded) and removes by RecipientId", async function () {
    const env = seal(pt, [p256.certPem, p256b.certPem, rsa.certPem]);
    const less = removeRecipients(env, [p256b.certDer]);
    thrown(() => open(less, p256b.key, p256b.certPem), NoMatchingRecipientError);
    expect(await fx.opensslDecrypt(less, p256)).to.deep.equal(pt);
    const ktri = recipientsOf(less).find((i) => i.kind === "ktri")!;
    const onlyEc = removeRecipients(less, [ktri]);
    expect(recipientsOf(onlyEc).map((i) => i.kind)).to.deep.equal(["kari"]);
    expect(contentOf(onlyEc)).to.deep.equal(contentOf(env));
  });

  it("refuses to remove the last recipient, or a recipient that is not there", function () {
    const env = seal(pt, [p256.certPem, p256b.certPem]);
    thrown(() => removeRecipients(env, [p256.certPem, p256b.certPem]), LastRecipientError);
    thrown(() => removeRecipients(env, [rsa.certPem]), NoMatchingRecipientError);
  });
});

describe("envelope: addRecipients without the content check", function () {
  it("wraps the right key (the new recipient opens it), and a wrong opening key still fails rather than wrapping a decoy", async function () {
    const { Fixtures } = await import("./fixtures.js");
    const { seal, open, addRecipients } = await import("../../src/envelope/index.js");
    const fx = await Fixtures.create();
    try {
      const { p256, rsa } = await fx.standard();
      const other = await fx.standard();
      const env = seal(new TextEncoder().encode("flat-cost rewrap"), [p256.certPem]);
      const wider = addRecipients(env, p256.key, p256.certPem, [rsa.certPem], { verifyContent: false });
      expect(new TextDecoder().decode(open(wider, rsa.key, rsa.certPem))).to.equal("flat-cost rewrap");
      // The right certificate but somebody else's key: the unwrap fails, so nothing is wrapped.
      expect(() => addRecipients(env, other.p256.key, p256.certPem, [rsa.certPem], { verifyContent: false })).to.throw(
        /cannot be decrypted/,
      );
    } finally {
      await fx.cleanup();
    }
  });
});
