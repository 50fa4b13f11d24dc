/**
 * One test per defect, named after it. Each defect is applied to an otherwise good envelope (certvault's own, or the
 * reference encoder's, whose clean output openssl opens) and must give its typed error.
 */
import { createECDH, createPublicKey, generateKeyPairSync } from "node:crypto";
import { expect } from "chai";
import { AsnParser } from "@peculiar/asn1-schema";
import { ContentInfo } from "@peculiar/asn1-cms";
import { AuthEnvelopedData } from "../../src/envelope/asn1.js";
import { CertvaultError } from "../../src/errors/index.js";
import * as E from "../../src/envelope/index.js";
import { open, seal } from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes, run, thrown } from "./fixtures.js";
import { OIDS, type RefOptions, oid, originatorWith, referenceSeal, tlv } from "./reference.js";

const PT = bytes("the record");

describe("envelope: every defect gives its typed error", function () {
  let fx: Fixtures;
  let p256: Identity, p256b: Identity, p384: Identity, rsa: Identity;
  let good: Uint8Array;

  before(async function () {
    fx = await Fixtures.create();
    ({ p256, p256b, p384, rsa } = await fx.standard());
    good = seal(PT, [p256.certPem, rsa.certPem]);
  });
  after(async () => fx.cleanup());

  const openBoth = (env: Uint8Array, cls: new (...a: never[]) => Error) => {
    for (const who of [p256, rsa]) thrown(() => open(env, who.key, who.certPem), cls);
  };
  const flipped = (env: Uint8Array, at: number) => {
    const copy = env.slice();
    copy[at] = (copy[at] as number) ^ 0x01;
    return copy;
  };
  const offsetOf = (env: Uint8Array, needle: ArrayBuffer | Uint8Array) => {
    const i = Buffer.from(env).indexOf(Buffer.from(needle instanceof Uint8Array ? needle : new Uint8Array(needle)));
    expect(i).to.be.greaterThan(0);
    return i;
  };
  const parsed = (env: Uint8Array) =>
    AsnParser.parse(AsnParser.parse(env, ContentInfo).content, AuthEnvelopedData, {
      berOptions: { parseEmbedded: false },
    });
  const ref = (o: RefOptions, to: Identity[] = [p256, rsa]) => referenceSeal(PT, to, o);

  // ---- tampering: one opaque error for every cryptographic failure -------------------------------------------
  it("tag_flipped", () => openBoth(flipped(good, good.length - 1), E.DecryptionFailedError));
  it("ciphertext_flipped", () => openBoth(flipped(good, good.length - 18 - PT.length), E.DecryptionFailedError));
  it("nonce_flipped", () =>
    openBoth(flipped(good, offsetOf(good, Uint8Array.of(0x30, 0x11, 0x04, 0x0c)) + 5), E.DecryptionFailedError));
  it("kari_encrypted_key_flipped", function () {
    const key = parsed(good).recipientInfos.find((r) => r.kari)!.kari!.recipientEncryptedKeys[0]!.encryptedKey.buffer;
    thrown(() => open(flipped(good, offsetOf(good, key) + 3), p256.key, p256.certPem), E.DecryptionFailedError);
  });
  it("ktri_encrypted_key_flipped", function () {
    const key = parsed(good).recipientInfos.find((r) => r.ktri)!.ktri!.encryptedKey.buffer;
    thrown(() => open(flipped(good, offsetOf(good, key) + 100), rsa.key, rsa.certPem), E.DecryptionFailedError);
  });
  it("originator_key_replaced_by_another_valid_point", function () {
    const other = createECDH("prime256v1").generateKeys();
    thrown(
      () => open(ref({ originator: () => originatorWith(undefined, other) }, [p256]), p256.key, p256.certPem),
      E.DecryptionFailedError,
    );
  });
  it("wrong_key", function () {
    thrown(() => open(good, p256b.key, p256.certPem), E.DecryptionFailedError);
    const otherRsa = generateKeyPairSync("rsa", { modulusLength: 3072 }).privateKey;
    thrown(() => open(good, otherRsa, rsa.certPem), E.DecryptionFailedError);
  });
  it("decryption_failed is one opaque error whatever failed", function () {
    const errors = [
      thrown(() => open(flipped(good, good.length - 1), p256.key, p256.certPem), E.DecryptionFailedError),
      thrown(() => open(good, p256b.key, p256.certPem), E.DecryptionFailedError),
      thrown(() => open(flipped(good, good.length - 1), rsa.key, rsa.certPem), E.DecryptionFailedError),
    ];
    expect(new Set(errors.map((e) => `${e.code}|${e.message}|${e.status}`)).size).to.equal(1);
    expect(errors[0]).to.include({ code: "decryption_failed", status: 400 });
  });

  // ---- structure ----------------------------------------------------------------------------------------------
  it("tag_truncated_4_bytes", () => openBoth(ref({ tagBytes: 4 }), E.MalformedEnvelopeError));
  it("tag_truncated_15_bytes", () => openBoth(ref({ tagBytes: 15 }), E.MalformedEnvelopeError));
  it("trailing_data", () => openBoth(Uint8Array.from([...good, 0]), E.MalformedEnvelopeError));
  it("truncated", () => openBoth(good.subarray(0, good.length - 1), E.MalformedEnvelopeError));
  it("truncated_to_half", () => openBoth(good.subarray(0, good.length >> 1), E.MalformedEnvelopeError));
  it("empty_input", () => openBoth(new Uint8Array(0), E.MalformedEnvelopeError));
  it("indefinite_length_ber", function () {
    const body = good.subarray(4); // good starts 30 82 LL LL
    openBoth(Uint8Array.from([0x30, 0x80, ...body, 0, 0]), E.MalformedEnvelopeError);
  });
  it("non_minimal_length", () =>
    openBoth(Uint8Array.from([0x30, 0x83, 0, ...good.subarray(2)]), E.MalformedEnvelopeError));
  it("version_1", () => openBoth(ref({ version: 1 }), E.MalformedEnvelopeError));

  // ---- algorithms outside the allow-list ----------------------------------------------------------------------
  it("unknown_content_alg", () => openBoth(ref({ contentAlgOid: OIDS.aes256Cbc }), E.UnsupportedAlgorithmError));
  it("gcm_icv_len_12", () => openBoth(ref({ icvLen: 12 }), E.UnsupportedAlgorithmError));
  it("gcm_nonce_16_bytes", () => openBoth(ref({ nonceBytes: 16 }), E.UnsupportedAlgorithmError));
  it("unknown_kdf", () => openBoth(ref({ kdfOid: OIDS.sha1Kdf }), E.UnsupportedAlgorithmError));
  it("unknown_key_wrap", () => openBoth(ref({ wrapOid: OIDS.aes128Wrap }), E.UnsupportedAlgorithmError));
  it("oaep_sha1", () => openBoth(ref({ oaepSha1: true }), E.UnsupportedAlgorithmError));
  it("openssl_default_sha1_kdf", async function () {
    const env = await run(
      "openssl",
      ["cms", "-encrypt", "-aes-256-gcm", "-binary", "-outform", "DER", "-recip", p256.certPath],
      { input: PT },
    );
    thrown(() => open(env, p256.key, p256.certPem), E.UnsupportedAlgorithmError);
  });
  it("openssl_default_rsa_pkcs1_v1_5", async function () {
    const env = await run(
      "openssl",
      ["cms", "-encrypt", "-aes-256-gcm", "-binary", "-outform", "DER", "-recip", rsa.certPath],
      { input: PT },
    );
    thrown(() => open(env, rsa.key, rsa.certPem), E.UnsupportedAlgorithmError);
  });

  // ---- CMS features certvault does not process ---------------------------------------------------------------
  it("enveloped_data_not_authenticated", async function () {
    const cbc = await run(
      "openssl",
      [
        "cms",
        "-encrypt",
        "-aes-256-cbc",
        "-binary",
        "-outform",
        "DER",
        "-recip",
        p256.certPath,
        "-keyopt",
        "ecdh_kdf_md:sha256",
      ],
      { input: PT },
    );
    thrown(() => open(cbc, p256.key, p256.certPem), E.UnsupportedFeatureError);
  });
  it("auth_attrs_present", () => openBoth(ref({ authAttrs: true }), E.UnsupportedFeatureError));
  it("unauth_attrs_present", () => openBoth(ref({ unauthAttrs: true }), E.UnsupportedFeatureError));
  it("originator_info_present", () => openBoth(ref({ originatorInfo: true }), E.UnsupportedFeatureError));
  // id-signedData is a signed record (test/envelope/signed.test.ts); any other inner type is refused.
  it("inner_content_type_not_data_or_signed_data", () =>
    openBoth(ref({ innerContentType: "1.2.840.113549.1.7.5" }), E.UnsupportedFeatureError));
  it("kekri_recipient_info", () =>
    openBoth(ref({ extraRecipientInfos: [tlv(0xa2, Uint8Array.of(2, 1, 4))] }), E.UnsupportedFeatureError));

  // ---- recipients, keys and certificates ----------------------------------------------------------------------
  it("no_matching_recipient", () => thrown(() => open(good, p384.key, p384.certPem), E.NoMatchingRecipientError));
  it("key_of_another_type", () => thrown(() => open(good, rsa.key, p256.certPem), E.KeyMismatchError));
  it("public_key_instead_of_private", function () {
    thrown(() => open(good, createPublicKey(p256.certPem), p256.certPem), E.EnvelopeUsageError);
  });
  it("ku_without_key_agreement", async function () {
    const signOnly = await fx.identity("ec-sign-only", "p256", "digitalSignature");
    thrown(() => seal(PT, [signOnly.certPem]), E.KeyUsageError);
    const env = referenceSeal(PT, [signOnly]);
    thrown(() => open(env, signOnly.key, signOnly.certPem), E.KeyUsageError);
  });
  it("ku_without_key_encipherment", async function () {
    const signOnly = await fx.identity("rsa-sign-only", "rsa2048", "digitalSignature");
    thrown(() => seal(PT, [signOnly.certPem]), E.KeyUsageError);
  });
  for (const [name, kind] of [
    ["rsa_1024", "rsa1024"],
    ["secp256k1", "secp256k1"],
    ["explicit_params", "p256explicit"],
    ["ed25519", "ed25519"],
  ] as const) {
    it(`${name}_certificate`, async function () {
      const who = await fx.identity(name, kind);
      thrown(() => seal(PT, [who.certPem]), E.UnsupportedKeyError);
    });
  }
  it("invalid_certificate", function () {
    thrown(
      () => seal(PT, ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]),
      E.InvalidCertificateError,
    );
    thrown(() => seal(PT, [p256.certPem + rsa.certPem]), E.InvalidCertificateError);
    thrown(() => seal(PT, [Uint8Array.of(0x30, 0x03, 2, 1, 0, 0)]), E.InvalidCertificateError);
  });

  // ---- hostile originator keys --------------------------------------------------------------------------------
  const hostile = (make: (point: Uint8Array) => Uint8Array) => () =>
    thrown(() => open(ref({ originator: make }, [p256]), p256.key, p256.certPem), E.InvalidOriginatorKeyError);
  it("explicit_params_originator", async function () {
    // OpenSSL 3.0 accepts this spelling; certvault refuses explicit parameters before any ECDH.
    const explicit = new Uint8Array(
      await run("openssl", ["ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-outform", "DER"]),
    );
    hostile((p) => originatorWith(explicit, p))();
  });
  it(
    "compressed_originator_point",
    hostile((p) => originatorWith(undefined, Uint8Array.of(2 + ((p[64] as number) & 1), ...p.subarray(1, 33)))),
  );
  it(
    "originator_point_off_curve",
    hostile(() => originatorWith(undefined, Uint8Array.of(4, ...new Uint8Array(64)))),
  );
  it(
    "originator_other_curve_oid",
    hostile((p) => originatorWith(oid(OIDS.p384), p)),
  );
  it(
    "originator_not_an_ec_key",
    hostile((p) => tlv(0xa1, tlv(0x30, oid("1.2.840.113549.1.1.1"), Uint8Array.of(5, 0)), tlv(3, Uint8Array.of(0), p))),
  );
  it(
    "originator_bit_string_with_unused_bits",
    hostile((p) => tlv(0xa1, tlv(0x30, oid(OIDS.ecPublicKey)), tlv(3, Uint8Array.of(1), p))),
  );

  // ---- limits -------------------------------------------------------------------------------------------------
  it("oversized", function () {
    thrown(() => open(good, p256.key, p256.certPem, { maxEnvelopeBytes: good.length - 1 }), E.EnvelopeTooLargeError);
    thrown(() => seal(new Uint8Array(2048), [p256.certPem], { maxEnvelopeBytes: 2048 }), E.EnvelopeTooLargeError);
    thrown(() => E.inspect(good, { maxRecipientInfosBytes: 100 }), E.EnvelopeTooLargeError);
    expect(thrown(() => E.inspect(good, { maxEnvelopeBytes: 10 }), E.EnvelopeTooLargeError).status).to.equal(413);
  });
  it("too_many_recipients", function () {
    thrown(() => open(good, p256.key, p256.certPem, { maxRecipients: 1 }), E.TooManyRecipientsError);
    thrown(() => seal(PT, [p256.certPem, rsa.certPem], { maxRecipients: 1 }), E.TooManyRecipientsError);
  });
  it("no_recipients_and_not_bytes", function () {
    thrown(() => seal(PT, []), E.EnvelopeUsageError);
    thrown(() => seal("text" as never, [p256.certPem]), E.EnvelopeUsageError);
    thrown(() => open([1, 2] as never, p256.key, p256.certPem), E.EnvelopeUsageError);
    thrown(() => seal(PT, [p256.certPem], { maxRecipients: 0 }), E.EnvelopeUsageError);
  });

  it("all envelope errors are CertvaultErrors with stable snake_case codes", function () {
    for (const cls of Object.values(E).filter(
      (v) => typeof v === "function" && v.prototype instanceof CertvaultError,
    )) {
      expect((cls as typeof CertvaultError).code).to.match(/^[a-z]+(_[a-z]+)*$/);
    }
  });
});
