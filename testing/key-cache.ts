/**
 * Key pairs for tests, generated once per process and type and then reused: RSA-3072 generation alone costs
 * ~100 ms. Safe only because these keys protect nothing; production code never calls this.
 */
import { webcrypto } from "node:crypto";

const pool = new Map<string, Promise<webcrypto.CryptoKeyPair>[]>();
const POOL_SIZE = 4;
let counter = 0;

function generate(keyType: string): Promise<webcrypto.CryptoKeyPair> {
  const subtle = webcrypto.subtle;
  if (keyType.startsWith("ec-")) {
    const curve = keyType === "ec-p384" ? "P-384" : keyType === "ec-p521" ? "P-521" : "P-256";
    return subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;
  }
  const bits = Number(keyType.split("-")[1] ?? 3072);
  return subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;
}

/**
 * A key pair of the given type. EC keys are cheap and always fresh; RSA keys cycle through a small pool, so two RSA
 * test identities may share a key (negative tests about ownership should use EC identities).
 */
export function testKeyPair(keyType: string): Promise<webcrypto.CryptoKeyPair> {
  if (keyType.startsWith("ec-")) return generate(keyType);
  let list = pool.get(keyType);
  if (!list) pool.set(keyType, (list = []));
  const i = counter++ % POOL_SIZE;
  if (!list[i]) list[i] = generate(keyType);
  return list[i];
}
