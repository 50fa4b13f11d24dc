/**
 * KeyAgreeRecipientInfo (RFC 5652 6.2.2, RFC 5753): ephemeral-static ECDH, X9.63 KDF with SHA-256, AES-256 key wrap.
 * One ephemeral key serves every recipient of its curve in a message: the KEK differs per recipient because Z does,
 * and it saves one scalar multiplication per extra recipient.
 */
import { type ECDH, type KeyObject, createCipheriv, createDecipheriv, createECDH } from "node:crypto";
import { type Curve, AES_WRAP_IV, CEK_BYTES, KARI_KEY_ENC_ALG_ID, ORIGINATOR_ALG_ID } from "./algorithms.js";
import type { RecipientCert } from "./certs.js";
import { DerReader, TAG, concat, tlv } from "./der.js";
import { DecryptionFailedError, InvalidOriginatorKeyError, KeyMismatchError } from "./errors.js";
import { x963Kdf } from "./kdf.js";
import type { Kari, KariRecipient } from "./recipient-infos.js";

const VERSION_3 = Uint8Array.of(TAG.INTEGER, 1, 3);

function wrap(kek: Uint8Array, cek: Uint8Array): Buffer {
  const c = createCipheriv("id-aes256-wrap", kek, AES_WRAP_IV);
  return Buffer.concat([c.update(cek), c.final()]);
}

/** Builds one KARI for `recipients`, all of `curve`. */
export function buildKari(curve: Curve, recipients: readonly RecipientCert[], cek: Uint8Array): Uint8Array {
  const ecdh = createECDH(curve.nodeName);
  const ephemeral = ecdh.generateKeys();
  const keys = recipients.map((r) => {
    const z = ecdh.computeSecret(r.point as Uint8Array);
    const kek = x963Kdf(z, undefined);
    z.fill(0);
    const wrapped = wrap(kek, cek);
    kek.fill(0);
    return tlv(TAG.SEQUENCE, r.issuerAndSerial, tlv(TAG.OCTET_STRING, wrapped));
  });
  const originatorKey = tlv(0xa1, ORIGINATOR_ALG_ID, tlv(TAG.BIT_STRING, concat([Uint8Array.of(0), ephemeral])));
  return tlv(0xa1, VERSION_3, tlv(0xa0, originatorKey), KARI_KEY_ENC_ALG_ID, tlv(TAG.SEQUENCE, ...keys));
}

/** A KARI with only `keep` of its recipients, everything else copied verbatim. */
export function reencodeKari(kari: Kari, keep: readonly KariRecipient[]): Uint8Array {
  return tlv(0xa1, VERSION_3, ...kari.head, tlv(TAG.SEQUENCE, ...keep.map((k) => k.raw)));
}

// The private scalar is exported from the KeyObject once per key: createECDH().computeSecret() on a raw point is
// about twice as fast as importing the point as a KeyObject for crypto.diffieHellman(). Export as PKCS #8 DER, never
// as JWK: on Node 20 a JWK export can self-deadlock when GC collects the key's generateKeyPairSync job meanwhile.
const agreements = new WeakMap<KeyObject, ECDH>();

/** The private scalar from PrivateKeyInfo { 0, AlgorithmIdentifier, OCTET STRING ECPrivateKey { 1, d, ... } }. */
function privateScalar(privateKey: KeyObject, curve: Curve): Buffer {
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  try {
    const fail = () => new KeyMismatchError("the private key cannot be read as an EC key");
    const info = new DerReader(der, fail).enter(TAG.SEQUENCE, "PrivateKeyInfo");
    info.read(TAG.INTEGER);
    info.read(TAG.SEQUENCE);
    const ecKey = new DerReader(info.read(TAG.OCTET_STRING).value, fail).enter(TAG.SEQUENCE, "ECPrivateKey");
    ecKey.read(TAG.INTEGER);
    const d = ecKey.read(TAG.OCTET_STRING).value;
    if (d.length > curve.coordinateBytes) throw fail();
    const scalar = Buffer.alloc(curve.coordinateBytes);
    scalar.set(d, curve.coordinateBytes - d.length);
    return scalar;
  } finally {
    der.fill(0);
  }
}

function agreementFor(privateKey: KeyObject, curve: Curve): ECDH {
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== curve.nodeName) {
    throw new KeyMismatchError(`the private key is not an EC ${curve.name} key, as the certificate's is`);
  }
  let ecdh = agreements.get(privateKey);
  if (!ecdh) {
    const d = privateScalar(privateKey, curve);
    ecdh = createECDH(curve.nodeName);
    ecdh.setPrivateKey(d);
    d.fill(0);
    agreements.set(privateKey, ecdh);
  }
  return ecdh;
}

/** Recovers the CEK; every cryptographic failure is the one opaque DecryptionFailedError. */
export function unwrapKari(kari: Kari, recipient: KariRecipient, cert: RecipientCert, privateKey: KeyObject): Buffer {
  const curve = cert.curve as Curve;
  if ((kari.curve && kari.curve !== curve) || kari.point.length !== 1 + 2 * curve.coordinateBytes) {
    throw new InvalidOriginatorKeyError(`originator key: not a ${curve.name} key`);
  }
  const ecdh = agreementFor(privateKey, curve);
  let z: Buffer;
  try {
    // node decodes the point with EC_POINT_oct2point, which refuses points off the curve, before any multiplication.
    z = ecdh.computeSecret(kari.point);
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_CRYPTO_ECDH_INVALID_PUBLIC_KEY") {
      throw new InvalidOriginatorKeyError("originator key: not a point on the curve");
    }
    throw new DecryptionFailedError();
  }
  const kek = x963Kdf(z, kari.ukm);
  z.fill(0);
  try {
    const d = createDecipheriv("id-aes256-wrap", kek, AES_WRAP_IV);
    const cek = Buffer.concat([d.update(recipient.encryptedKey), d.final()]);
    if (cek.length !== CEK_BYTES) throw new Error("bad CEK length");
    return cek;
  } catch {
    throw new DecryptionFailedError();
  } finally {
    kek.fill(0);
  }
}
