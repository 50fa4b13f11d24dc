/**
 * The ANSI X9.63 KDF of RFC 5753 section 7.2 with SHA-256: K = SHA-256(Z || counter || ECC-CMS-SharedInfo), counter
 * a 32-bit big-endian block number from 1. Only SHA-256 is composed here; the primitive comes from node:crypto.
 */
import { createHash } from "node:crypto";
import { AES256_WRAP_ALG_ID, CEK_BYTES } from "./algorithms.js";
import { TAG, tlv } from "./der.js";

const HASH_BYTES = 32;

/** suppPubInfo: the KEK length in bits as a 4-octet big-endian number. */
function suppPubInfo(keyBytes: number): Uint8Array {
  const bits = new Uint8Array(4);
  new DataView(bits.buffer).setUint32(0, keyBytes * 8);
  return tlv(0xa2, tlv(TAG.OCTET_STRING, bits));
}

/**
 * ECC-CMS-SharedInfo ::= SEQUENCE { keyInfo AlgorithmIdentifier, entityUInfo [0] EXPLICIT OCTET STRING OPTIONAL,
 * suppPubInfo [2] EXPLICIT OCTET STRING }, keyInfo being the key-wrap algorithm with absent parameters.
 */
export function sharedInfo(ukm: Uint8Array | undefined, keyBytes = CEK_BYTES): Uint8Array {
  const entity = ukm === undefined ? [] : [tlv(0xa0, tlv(TAG.OCTET_STRING, ukm))];
  return tlv(TAG.SEQUENCE, AES256_WRAP_ALG_ID, ...entity, suppPubInfo(keyBytes));
}

// The common case (no ukm, AES-256 wrap) is a constant.
const SHARED_INFO_NO_UKM = sharedInfo(undefined);

export function x963Kdf(z: Uint8Array, ukm: Uint8Array | undefined, keyBytes = CEK_BYTES): Buffer {
  const info = ukm === undefined && keyBytes === CEK_BYTES ? SHARED_INFO_NO_UKM : sharedInfo(ukm, keyBytes);
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 1; blocks.length * HASH_BYTES < keyBytes; i++) {
    counter.writeUInt32BE(i);
    blocks.push(createHash("sha256").update(z).update(counter).update(info).digest());
  }
  const key = blocks.length === 1 ? (blocks[0] as Buffer) : Buffer.concat(blocks);
  return key.subarray(0, keyBytes);
}
