/**
 * KeyTransRecipientInfo (RFC 5652 6.2.1) with RSAES-OAEP, SHA-256 and MGF1-SHA-256 (RFC 4055 / RFC 8017).
 * PKCS #1 v1.5 key transport, OpenSSL's default, is not in the allow-list: it invites padding oracles.
 */
import { type KeyObject, constants, privateDecrypt, publicEncrypt } from "node:crypto";
import { CEK_BYTES, KTRI_KEY_ENC_ALG_ID } from "./algorithms.js";
import type { RecipientCert } from "./certs.js";
import { TAG, tlv } from "./der.js";
import { DecryptionFailedError, KeyMismatchError } from "./errors.js";
import type { Ktri } from "./recipient-infos.js";

const VERSION_0 = Uint8Array.of(TAG.INTEGER, 1, 0);

export function buildKtri(cert: RecipientCert, cek: Uint8Array): Uint8Array {
  const encryptedKey = publicEncrypt(
    { key: cert.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    cek,
  );
  return tlv(TAG.SEQUENCE, VERSION_0, cert.issuerAndSerial, KTRI_KEY_ENC_ALG_ID, tlv(TAG.OCTET_STRING, encryptedKey));
}

/** Recovers the CEK; every cryptographic failure is the one opaque DecryptionFailedError. */
export function unwrapKtri(ktri: Ktri, cert: RecipientCert, privateKey: KeyObject): Buffer {
  const bits = cert.publicKey.asymmetricKeyDetails?.modulusLength;
  if (privateKey.asymmetricKeyType !== "rsa" || privateKey.asymmetricKeyDetails?.modulusLength !== bits) {
    throw new KeyMismatchError(`the private key is not an RSA-${bits} key, as the certificate's is`);
  }
  let cek: Buffer;
  try {
    // node's OAEP uses MGF1 with the same hash, which is what the allow-list demands.
    cek = privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      ktri.encryptedKey,
    );
  } catch {
    throw new DecryptionFailedError();
  }
  if (cek.length !== CEK_BYTES) {
    cek.fill(0);
    throw new DecryptionFailedError();
  }
  return cek;
}
