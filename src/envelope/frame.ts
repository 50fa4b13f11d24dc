/**
 * The outer layers: ContentInfo { id-ct-authEnvelopedData, [0] AuthEnvelopedData }. Reading returns views into the
 * input (the ciphertext is never copied); writing lays the whole message out in one buffer and leaves the content
 * window for the cipher to fill, so that a 16 MiB record is written once.
 */
import {
  AES256_GCM,
  CONTENT_TYPES,
  type ContentKind,
  CT_AUTH_ENVELOPED_DATA,
  CT_DATA,
  CT_SIGNED_DATA,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  describeOid,
} from "./algorithms.js";
import { DerReader, TAG, concat, derSetOrder, equalBytes, header, tlv } from "./der.js";
import {
  EnvelopeTooLargeError,
  MalformedEnvelopeError,
  TooManyRecipientsError,
  UnsupportedAlgorithmError,
  UnsupportedFeatureError,
} from "./errors.js";
import { ownBuffer } from "../policy/memory.js";
import type { Limits } from "./options.js";
import { type RecipientInfo, parseRecipientInfo, recipientCount } from "./recipient-infos.js";

export interface ParsedEnvelope {
  /** id-data (the record) or id-signedData (a signed record, docs/envelope.md); nothing else is accepted. */
  readonly contentType: ContentKind;
  readonly recipientInfos: readonly RecipientInfo[];
  /** The contentEncryptionAlgorithm TLV, copied verbatim when recipients change. */
  readonly contentAlgorithm: Uint8Array;
  readonly nonce: Uint8Array;
  readonly encryptedContent: Uint8Array;
  readonly mac: Uint8Array;
  readonly size: number;
}

const VERSION_0 = Uint8Array.of(TAG.INTEGER, 1, 0);
const GCM_ICV_LEN = Uint8Array.of(TAG.INTEGER, 1, GCM_TAG_BYTES);

/** SEQUENCE { aes256-GCM, GCMParameters { nonce, 16 } } */
export function gcmAlgorithm(nonce: Uint8Array): Uint8Array {
  return tlv(TAG.SEQUENCE, AES256_GCM.der, tlv(TAG.SEQUENCE, tlv(TAG.OCTET_STRING, nonce), GCM_ICV_LEN));
}

function readGcmAlgorithm(raw: Uint8Array): Uint8Array {
  const a = new DerReader(raw).enter(TAG.SEQUENCE, "contentEncryptionAlgorithm");
  const oid = a.read(TAG.OID, "contentEncryptionAlgorithm").raw;
  if (!equalBytes(oid, AES256_GCM.der)) {
    throw new UnsupportedAlgorithmError(`content encryption ${describeOid(oid).name} is not allowed (aes256-GCM only)`);
  }
  const p = a.enter(TAG.SEQUENCE, "GCMParameters");
  a.end("contentEncryptionAlgorithm");
  const nonce = p.read(TAG.OCTET_STRING, "aes-nonce").value;
  const icvLen = p.done ? 12 : p.readSmallInt("aes-ICVlen");
  p.end("GCMParameters");
  if (nonce.length !== GCM_NONCE_BYTES) throw new UnsupportedAlgorithmError("the GCM nonce must be 12 bytes");
  if (icvLen !== GCM_TAG_BYTES) throw new UnsupportedAlgorithmError("the GCM tag length must be 16 bytes");
  return nonce;
}

export function parseEnvelope(bytes: Uint8Array, limits: Limits): ParsedEnvelope {
  if (bytes.length > limits.maxEnvelopeBytes) {
    throw new EnvelopeTooLargeError(
      `envelope of ${bytes.length} bytes exceeds the limit of ${limits.maxEnvelopeBytes}`,
    );
  }
  const top = new DerReader(bytes);
  const ci = top.enter(TAG.SEQUENCE, "ContentInfo");
  top.end("ContentInfo");
  const outerType = ci.read(TAG.OID, "contentType").raw;
  if (!equalBytes(outerType, CT_AUTH_ENVELOPED_DATA.der)) {
    throw new UnsupportedFeatureError(`content type ${describeOid(outerType).name} is not AuthEnvelopedData`);
  }
  const explicit = ci.enter(0xa0, "content");
  ci.end("ContentInfo");
  const aed = explicit.enter(TAG.SEQUENCE, "AuthEnvelopedData");
  explicit.end("content");

  if (aed.readSmallInt("version") !== 0) throw new MalformedEnvelopeError("AuthEnvelopedData version must be 0");
  if (aed.peekTag() === 0xa0) throw new UnsupportedFeatureError("originatorInfo is not supported");
  const ris = aed.read(TAG.SET, "recipientInfos");
  if (ris.raw.length > limits.maxRecipientInfosBytes) {
    throw new EnvelopeTooLargeError(`recipientInfos exceed the limit of ${limits.maxRecipientInfosBytes} bytes`);
  }
  const recipientInfos: RecipientInfo[] = [];
  let count = 0;
  for (const r = new DerReader(ris.value); !r.done;) {
    const ri = parseRecipientInfo(r.read(undefined, "RecipientInfo"));
    count += recipientCount(ri);
    if (count > limits.maxRecipients) throw new TooManyRecipientsError(`more than ${limits.maxRecipients} recipients`);
    recipientInfos.push(ri);
  }
  if (recipientInfos.length === 0) throw new MalformedEnvelopeError("recipientInfos is empty");

  const eci = aed.enter(TAG.SEQUENCE, "authEncryptedContentInfo");
  const innerType = eci.read(TAG.OID, "contentType").raw;
  const contentType: ContentKind | undefined = equalBytes(innerType, CT_DATA.der)
    ? "data"
    : equalBytes(innerType, CT_SIGNED_DATA.der)
      ? "signed-data"
      : undefined;
  if (!contentType) {
    throw new UnsupportedFeatureError(
      `encrypted content type ${describeOid(innerType).name} is not id-data or id-signedData`,
    );
  }
  const contentAlgorithm = eci.read(TAG.SEQUENCE, "contentEncryptionAlgorithm").raw;
  const nonce = readGcmAlgorithm(contentAlgorithm);
  if (eci.peekTag() === 0xa0) throw new MalformedEnvelopeError("constructed encryptedContent is BER, not DER");
  if (eci.done) throw new UnsupportedFeatureError("detached content is not supported");
  const encryptedContent = eci.read(0x80, "encryptedContent").value;
  eci.end("authEncryptedContentInfo");
  if (aed.peekTag() === 0xa1) throw new UnsupportedFeatureError("authAttrs are not supported");
  const mac = aed.read(TAG.OCTET_STRING, "mac").value;
  if (mac.length !== GCM_TAG_BYTES) throw new MalformedEnvelopeError("the authentication tag must be 16 bytes");
  if (aed.peekTag() === 0xa2) throw new UnsupportedFeatureError("unauthAttrs are not supported");
  aed.end("AuthEnvelopedData");
  return { contentType, recipientInfos, contentAlgorithm, nonce, encryptedContent, mac, size: bytes.length };
}

export interface Layout {
  /** The whole envelope; the content window and the mac are to be filled by the caller. */
  readonly out: Uint8Array;
  readonly contentOffset: number;
  readonly macOffset: number;
}

/** Allocates and writes everything but the ciphertext and the tag. */
export function layoutEnvelope(
  recipientInfos: readonly Uint8Array[],
  contentAlgorithm: Uint8Array,
  contentLength: number,
  limits: Limits,
  contentType: ContentKind = "data",
): Layout {
  const innerType = CONTENT_TYPES[contentType].der;
  const ris = tlv(TAG.SET, ...[...recipientInfos].sort(derSetOrder));
  if (ris.length > limits.maxRecipientInfosBytes) {
    throw new EnvelopeTooLargeError(`recipientInfos exceed the limit of ${limits.maxRecipientInfosBytes} bytes`);
  }
  const contentHeader = header(0x80, contentLength);
  const eciBody = innerType.length + contentAlgorithm.length + contentHeader.length + contentLength;
  const eciHeader = header(TAG.SEQUENCE, eciBody);
  const mac = header(TAG.OCTET_STRING, GCM_TAG_BYTES);
  const aedBody = VERSION_0.length + ris.length + eciHeader.length + eciBody + mac.length + GCM_TAG_BYTES;
  const aedHeader = header(TAG.SEQUENCE, aedBody);
  const explicitHeader = header(0xa0, aedHeader.length + aedBody);
  const ciBody = CT_AUTH_ENVELOPED_DATA.der.length + explicitHeader.length + aedHeader.length + aedBody;
  const ciHeader = header(TAG.SEQUENCE, ciBody);
  const total = ciHeader.length + ciBody;
  if (total > limits.maxEnvelopeBytes) {
    throw new EnvelopeTooLargeError(
      `the envelope would be ${total} bytes, over the limit of ${limits.maxEnvelopeBytes}`,
    );
  }
  const head = concat([
    ciHeader,
    CT_AUTH_ENVELOPED_DATA.der,
    explicitHeader,
    aedHeader,
    VERSION_0,
    ris,
    eciHeader,
    innerType,
    contentAlgorithm,
    contentHeader,
  ]);
  // Never pooled: the result's .buffer must hold only this envelope. A large one in pages of its own, outside malloc,
  // which go back to the OS when it is collected (issue 17, policy/memory.ts).
  const out = ownBuffer(total);
  out.set(head, 0);
  const macOffset = head.length + contentLength + mac.length;
  out.set(mac, macOffset - mac.length);
  return { out, contentOffset: head.length, macOffset };
}
