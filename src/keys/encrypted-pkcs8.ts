/**
 * Private keys at rest: PKCS#8 encrypted with PBES2 (PBKDF2-HMAC-SHA256, 600,000 iterations, AES-256-CBC), PEM
 * "ENCRYPTED PRIVATE KEY", which `openssl pkey -passin file:F` opens. Node's own KeyObject.export() would use
 * OpenSSL's default of 2,048 iterations, so the container is built here from standard parts; decryption is left to
 * OpenSSL through node:crypto.
 */
import { createCipheriv, createPrivateKey, pbkdf2Sync, randomBytes, webcrypto } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { EncryptedData, EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { BadPassphraseError, InvalidInputError } from "../errors/index.js";
import { toPem } from "../x509/pem.js";
import { OID_AES256_CBC, OID_HMAC_SHA256, OID_PBES2, OID_PBKDF2, Pbes2Params, Pbkdf2Params } from "./pbes2-asn1.js";

export const PBKDF2_ITERATIONS = 600_000;
const PEM_LABEL = "ENCRYPTED PRIVATE KEY";
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/** Encrypts an unencrypted PKCS#8 DER private key under a passphrase; returns PEM. */
export function encryptPkcs8(pkcs8Der: Uint8Array, passphrase: string, iterations = PBKDF2_ITERATIONS): string {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(passphrase, "utf8"), salt, iterations, 32, "sha256");
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  const encrypted = Buffer.concat([cipher.update(pkcs8Der), cipher.final()]);
  key.fill(0);

  const kdf = new Pbkdf2Params();
  kdf.salt = new Uint8Array(salt).buffer;
  kdf.iterationCount = iterations;
  kdf.prf = new AlgorithmIdentifier({ algorithm: OID_HMAC_SHA256, parameters: DER_NULL });
  const pbes2 = new Pbes2Params();
  pbes2.keyDerivationFunc = new AlgorithmIdentifier({ algorithm: OID_PBKDF2, parameters: AsnConvert.serialize(kdf) });
  pbes2.encryptionScheme = new AlgorithmIdentifier({
    algorithm: OID_AES256_CBC,
    parameters: AsnConvert.serialize(new OctetString(iv)),
  });
  const info = new EncryptedPrivateKeyInfo({
    encryptionAlgorithm: new AlgorithmIdentifier({ algorithm: OID_PBES2, parameters: AsnConvert.serialize(pbes2) }),
    encryptedData: new EncryptedData(encrypted),
  });
  return toPem(new Uint8Array(AsnConvert.serialize(info)), PEM_LABEL);
}

/** Decrypts an encrypted PEM private key. A wrong passphrase and a damaged file give the same BadPassphraseError. */
export function decryptPrivateKey(pem: string, passphrase: string): KeyObject {
  if (!pem.includes(`-----BEGIN ${PEM_LABEL}-----`)) {
    throw new InvalidInputError("the key file is not an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY)");
  }
  requireSaneWorkFactor(pem);
  try {
    return createPrivateKey({ key: pem, format: "pem", passphrase });
  } catch {
    throw new BadPassphraseError();
  }
}

/**
 * A key file names its own PBKDF2 round count, and OpenSSL runs whatever it says: at ~1 ms per 1,000 rounds here,
 * 2^31 rounds would hang the caller for ~37 minutes (found by fuzzing). Files certvault writes use 600,000; OpenSSL's
 * own 2,048. Anything above MAX_PBKDF2_ITERATIONS (~10 s) is refused before any work. Anything that is not PBES2 with
 * PBKDF2 parameters we can read is left to OpenSSL (which refuses or opens it as before).
 */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

function requireSaneWorkFactor(pem: string): void {
  let iterations: number | undefined;
  try {
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
    const info = AsnConvert.parse(der, EncryptedPrivateKeyInfo);
    if (info.encryptionAlgorithm.algorithm === OID_PBES2 && info.encryptionAlgorithm.parameters) {
      const kdf = AsnConvert.parse(info.encryptionAlgorithm.parameters, Pbes2Params).keyDerivationFunc;
      if (kdf.algorithm === OID_PBKDF2 && kdf.parameters)
        iterations = AsnConvert.parse(kdf.parameters, Pbkdf2Params).iterationCount;
    }
  } catch {
    throw new BadPassphraseError();
  }
  if (iterations !== undefined && !(iterations >= 1 && iterations <= MAX_PBKDF2_ITERATIONS)) {
    throw new InvalidInputError(
      `the key file asks for ${iterations} PBKDF2 rounds: more than ${MAX_PBKDF2_ITERATIONS} is refused`,
    );
  }
}

/** Exports a WebCrypto private key as encrypted PEM (`iterations`: PBKDF2 rounds, certvault's 600,000 by default). */
export async function encryptCryptoKey(
  key: CryptoKey,
  passphrase: string,
  iterations = PBKDF2_ITERATIONS,
): Promise<string> {
  const der = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", key));
  try {
    return encryptPkcs8(der, passphrase, iterations);
  } finally {
    der.fill(0);
  }
}

/** Imports a node KeyObject into WebCrypto as a non-extractable signing key. */
export async function toSigningCryptoKey(
  key: KeyObject,
  algorithm: RsaHashedImportParams | EcKeyImportParams,
): Promise<CryptoKey> {
  const der = key.export({ format: "der", type: "pkcs8" });
  try {
    return await webcrypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"]);
  } finally {
    der.fill(0);
  }
}
