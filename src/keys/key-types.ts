/**
 * Making and naming certvault's own keys (CA, server, users): the `--key-type` spellings come from the one key table
 * (policy/keys.ts), so the CLI, the CA and the SDK generate exactly the key types the CA certifies, the server admits
 * and the envelope seals to. This module adds only the WebCrypto parameters to generate and sign with each.
 */
import { webcrypto } from "node:crypto";
import { UsageError } from "../errors/index.js";
import { CURVES, DEFAULT_KEY_TYPE, KEY_TYPES, RSA_POLICY, type KeyType } from "../policy/keys.js";

export { DEFAULT_KEY_TYPE, KEY_TYPES, type KeyType };

interface KeyTypeSpec {
  /** WebCrypto generation/import parameters for a signing key. */
  readonly keyAlgorithm: RsaHashedImportParams | EcKeyImportParams;
  /** The signature algorithm a key of this type signs with (ECDSA with the curve's hash from the table). */
  readonly signingAlgorithm: AlgorithmIdentifier | EcdsaParams | RsaHashedImportParams;
}

const WEBCRYPTO_HASH = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" } as const;
const RSA_SIGNING = { name: "RSASSA-PKCS1-v1_5", hash: WEBCRYPTO_HASH[RSA_POLICY.hash] } as RsaHashedImportParams;

function specOf(type: KeyType): KeyTypeSpec {
  const curve = CURVES.find((c) => c.keyType === type);
  if (!curve) return { keyAlgorithm: RSA_SIGNING, signingAlgorithm: RSA_SIGNING };
  return {
    keyAlgorithm: { name: "ECDSA", namedCurve: curve.name },
    signingAlgorithm: { name: "ECDSA", hash: WEBCRYPTO_HASH[curve.hash] } as EcdsaParams,
  };
}

export function parseKeyType(value: string | undefined): KeyType {
  if (value === undefined) return DEFAULT_KEY_TYPE;
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new UsageError(`unknown key type "${value}" (expected one of ${KEY_TYPES.join(", ")})`);
}

export function keyTypeSpec(type: KeyType): KeyTypeSpec {
  return specOf(type);
}

/** Generates an extractable signing key pair (extractable so that it can be written encrypted to disk). */
export async function generateKeyPair(type: KeyType): Promise<CryptoKeyPair> {
  const spec = specOf(type);
  const params =
    spec.keyAlgorithm.name === "ECDSA"
      ? spec.keyAlgorithm
      : {
          ...spec.keyAlgorithm,
          modulusLength: RSA_POLICY.generatedBits,
          publicExponent: new Uint8Array([1, 0, 1]),
        };
  return (await webcrypto.subtle.generateKey(params, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** Tells the key type of an existing key (e.g. a CA key read from disk) from its WebCrypto algorithm. */
export function keyTypeOf(key: CryptoKey): KeyType {
  const alg = key.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
  const curve = alg.name === "ECDSA" ? CURVES.find((c) => c.name === alg.namedCurve) : undefined;
  if (curve) return curve.keyType;
  if (alg.name === "RSASSA-PKCS1-v1_5" && alg.modulusLength === RSA_POLICY.generatedBits) return "rsa-3072";
  throw new UsageError(`unsupported key algorithm ${alg.name}`);
}
