/**
 * The key types certvault makes and accepts for its own keys (CA, server, users): one registry, so the CLI, the CA
 * and the SDK agree on spelling and parameters.
 */
import { webcrypto } from "node:crypto";
import { UsageError } from "../errors/index.js";

export const KEY_TYPES = ["ec-p256", "ec-p384", "rsa-3072"] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = "ec-p256";

interface KeyTypeSpec {
  /** WebCrypto generation/import parameters for a signing key. */
  readonly keyAlgorithm: RsaHashedImportParams | EcKeyImportParams;
  /** The signature algorithm a key of this type signs with. */
  readonly signingAlgorithm: AlgorithmIdentifier | EcdsaParams | RsaHashedImportParams;
}

const SPECS: Record<KeyType, KeyTypeSpec> = {
  "ec-p256": {
    keyAlgorithm: { name: "ECDSA", namedCurve: "P-256" },
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
  },
  "ec-p384": {
    keyAlgorithm: { name: "ECDSA", namedCurve: "P-384" },
    signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
  },
  "rsa-3072": {
    keyAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as RsaHashedImportParams,
  },
};

export function parseKeyType(value: string | undefined): KeyType {
  if (value === undefined) return DEFAULT_KEY_TYPE;
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new UsageError(`unknown key type "${value}" (expected one of ${KEY_TYPES.join(", ")})`);
}

export function keyTypeSpec(type: KeyType): KeyTypeSpec {
  return SPECS[type];
}

/** Generates an extractable signing key pair (extractable so that it can be written encrypted to disk). */
export async function generateKeyPair(type: KeyType): Promise<CryptoKeyPair> {
  const spec = SPECS[type];
  const params =
    spec.keyAlgorithm.name === "ECDSA"
      ? spec.keyAlgorithm
      : { ...spec.keyAlgorithm, modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]) };
  return (await webcrypto.subtle.generateKey(params, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** Tells the key type of an existing key (e.g. a CA key read from disk) from its WebCrypto algorithm. */
export function keyTypeOf(key: CryptoKey): KeyType {
  const alg = key.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
  if (alg.name === "ECDSA" && alg.namedCurve === "P-256") return "ec-p256";
  if (alg.name === "ECDSA" && alg.namedCurve === "P-384") return "ec-p384";
  if (alg.name === "RSASSA-PKCS1-v1_5" && alg.modulusLength === 3072) return "rsa-3072";
  throw new UsageError(`unsupported key algorithm ${alg.name}`);
}
