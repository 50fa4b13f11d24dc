/**
 * Key pairs for test certificates. EC keys are cheap (well under a millisecond) and always fresh. RSA generation is
 * not (RSA-3072 alone costs ~400 ms here), so RSA leaf keys are generated once per process and type into a small pool
 * and then reused. Safe only because these keys protect nothing; production code never calls this, and CA keys never
 * come from the pool (a "foreign" CA must really have keys of its own).
 */
import { webcrypto } from "node:crypto";
import { CURVES } from "../policy/keys.js";

/**
 * Leaf key types the kit makes: the ones certvault generates (policy/keys.ts: every curve of the table, RSA-3072),
 * plus RSA-2048 (accepted) and RSA-1024 (weak, for negative tests).
 */
export const LEAF_KEY_TYPES = ["ec-p256", "ec-p384", "ec-p521", "rsa-3072", "rsa-2048", "rsa-1024"] as const;
export type LeafKeyType = (typeof LEAF_KEY_TYPES)[number];

const POOL_SIZE = 4;
/** "rsa-3072#2" -> the third pooled RSA-3072 key pair. */
const slots = new Map<string, Promise<webcrypto.CryptoKeyPair>>();
const next = new Map<LeafKeyType, number>();

function generate(keyType: LeafKeyType): Promise<webcrypto.CryptoKeyPair> {
  const subtle = webcrypto.subtle;
  switch (keyType) {
    case "ec-p256":
    case "ec-p384":
    case "ec-p521": {
      const namedCurve = CURVES.find((c) => c.keyType === keyType)?.name as string;
      return subtle.generateKey({ name: "ECDSA", namedCurve }, true, [
        "sign",
        "verify",
      ]) as Promise<webcrypto.CryptoKeyPair>;
    }
    case "rsa-3072":
    case "rsa-2048":
    case "rsa-1024":
      return subtle.generateKey(
        {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: Number(keyType.slice(4)),
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        },
        true,
        ["sign", "verify"],
      ) as Promise<webcrypto.CryptoKeyPair>;
    default:
      throw new Error(
        `certvault/testing: unknown key type "${String(keyType)}" (expected one of ${LEAF_KEY_TYPES.join(", ")})`,
      );
  }
}

/**
 * A key pair of the given type. EC keys are always fresh; RSA keys cycle through a pool of four per type, so two RSA
 * test identities may share a key (tests about who owns which key should use EC identities).
 */
export function testKeyPair(keyType: LeafKeyType): Promise<webcrypto.CryptoKeyPair> {
  if (keyType.startsWith("ec-")) return generate(keyType);
  const i = next.get(keyType) ?? 0;
  next.set(keyType, (i + 1) % POOL_SIZE);
  const slot = `${keyType}#${i}`;
  let pair = slots.get(slot);
  if (!pair) {
    pair = generate(keyType);
    slots.set(slot, pair);
    // A failed generation must not poison the slot for the rest of the process.
    pair.catch(() => slots.delete(slot));
  }
  return pair;
}
