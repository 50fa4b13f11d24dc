/**
 * What an envelope is, without any key: sizes, algorithms and recipient counts. The envelope is parsed and checked
 * exactly as open() would, so inspect() succeeding means the structure and algorithms are acceptable.
 */
import {
  AES256_GCM,
  AES256_WRAP,
  type CurveName,
  CONTENT_TYPES,
  ECDH_SHA256_KDF,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  MGF1,
  RSAES_OAEP,
  SHA256,
  curveByPointLength,
} from "./algorithms.js";
import { parseEnvelope } from "./frame.js";
import { type EnvelopeOptions, requireBytes, resolveLimits } from "./options.js";
import { type RecipientId, idOf, slots } from "./recipients.js";

export interface AlgorithmName {
  readonly oid: string;
  readonly name: string;
}

export interface EnvelopeInfo {
  readonly envelopeBytes: number;
  /** Size of encryptedContent, equal to the plaintext size (GCM does not pad). */
  readonly contentBytes: number;
  readonly contentType: AlgorithmName;
  readonly contentEncryption: AlgorithmName & { readonly nonceBytes: number; readonly tagBytes: number };
  readonly recipients: { readonly total: number; readonly kari: number; readonly ktri: number };
  readonly keyAgreements: readonly {
    readonly curve: CurveName;
    readonly kdf: AlgorithmName;
    readonly keyWrap: AlgorithmName;
    readonly recipients: number;
    readonly ukmBytes: number;
  }[];
  readonly keyTransports: readonly {
    readonly algorithm: AlgorithmName;
    readonly hash: AlgorithmName;
    readonly mgf: AlgorithmName;
  }[];
}

const named = (a: { oid: string; name: string }): AlgorithmName => ({ oid: a.oid, name: a.name });

export function inspect(envelope: Uint8Array, opts?: EnvelopeOptions): EnvelopeInfo {
  requireBytes(envelope, "envelope");
  const parsed = parseEnvelope(envelope, resolveLimits(opts));
  let kari = 0;
  let ktri = 0;
  const keyAgreements: EnvelopeInfo["keyAgreements"][number][] = [];
  const keyTransports: EnvelopeInfo["keyTransports"][number][] = [];
  for (const ri of parsed.recipientInfos) {
    if (ri.kind === "ktri") {
      ktri++;
      keyTransports.push({ algorithm: named(RSAES_OAEP), hash: named(SHA256), mgf: named(MGF1) });
    } else {
      kari += ri.recipients.length;
      keyAgreements.push({
        // parseEnvelope already refused points whose length fits no allowed curve.
        curve: (ri.curve ?? curveByPointLength(ri.point.length))?.name as CurveName,
        kdf: named(ECDH_SHA256_KDF),
        keyWrap: named(AES256_WRAP),
        recipients: ri.recipients.length,
        ukmBytes: ri.ukm?.length ?? 0,
      });
    }
  }
  return {
    envelopeBytes: parsed.size,
    contentBytes: parsed.encryptedContent.length,
    contentType: named(CONTENT_TYPES[parsed.contentType]),
    contentEncryption: { ...named(AES256_GCM), nonceBytes: GCM_NONCE_BYTES, tagBytes: GCM_TAG_BYTES },
    recipients: { total: kari + ktri, kari, ktri },
    keyAgreements,
    keyTransports,
  };
}

/** Every recipient, in envelope order (KARI recipients in their recipientEncryptedKeys order). */
export function recipientsOf(envelope: Uint8Array, opts?: EnvelopeOptions): RecipientId[] {
  requireBytes(envelope, "envelope");
  return [...slots(parseEnvelope(envelope, resolveLimits(opts)))].map(idOf);
}
