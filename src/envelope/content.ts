/**
 * Content encryption: AES-256-GCM through node:crypto, no AAD (AuthEnvelopedData without authAttrs), 16-byte tag.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { GCM_TAG_BYTES } from "./algorithms.js";
import { DecryptionFailedError } from "./errors.js";

// Chunks small enough to stay in cache while copied into the output, large enough to amortise the calls.
const CHUNK = 256 * 1024;

/**
 * Encrypts `plaintext` (one buffer, or consecutive parts of it) into `out` at `offset` (exactly its length in bytes)
 * and returns the tag.
 */
export function encryptContent(
  cek: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array | readonly Uint8Array[],
  out: Uint8Array,
  offset: number,
): Buffer {
  const cipher = createCipheriv("aes-256-gcm", cek, nonce, { authTagLength: GCM_TAG_BYTES });
  let at = offset;
  let length = 0;
  for (const part of plaintext instanceof Uint8Array ? [plaintext] : plaintext) {
    length += part.length;
    for (let i = 0; i < part.length; i += CHUNK) {
      const chunk = cipher.update(part.subarray(i, Math.min(part.length, i + CHUNK)));
      out.set(chunk, at);
      at += chunk.length;
    }
  }
  const last = cipher.final();
  out.set(last, at);
  if (at + last.length - offset !== length) throw new Error("GCM output length mismatch");
  return cipher.getAuthTag();
}

/**
 * Decrypts and verifies. Nothing is returned unless the tag verifies; on failure the partial output is wiped. The
 * tag length is pinned: without authTagLength node would accept a tag as short as 4 bytes.
 */
export function decryptContent(
  cek: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  mac: Uint8Array,
): Uint8Array {
  let out: Buffer | undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", cek, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAuthTag(mac);
    out = decipher.update(ciphertext);
    const last = decipher.final();
    if (last.length !== 0) out = Buffer.concat([out, last]);
  } catch {
    out?.fill(0);
    throw new DecryptionFailedError();
  }
  // A view on a buffer of its own, never on node's shared pool.
  return out.byteOffset === 0 && out.buffer.byteLength === out.length
    ? new Uint8Array(out.buffer, 0, out.length)
    : new Uint8Array(out);
}
