/**
 * Readable issuer names for recipientsOf(): RFC 4514 strings from the DER Name. Matching never uses these strings
 * (it compares DER octets); they are for people and logs.
 */
import { DerReader, decodeOid, TAG, toHex } from "./der.js";

const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "SERIALNUMBER",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
};

function decodeString(tag: number, v: Uint8Array): string | undefined {
  const buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  switch (tag) {
    case 0x0c: // UTF8String
      return buf.toString("utf8");
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // TeletexString, read as Latin-1 as most software does
      return buf.toString("latin1");
    case 0x1e: {
      // BMPString: UTF-16BE
      if (v.length % 2 !== 0) return undefined;
      const swapped = Buffer.from(buf);
      swapped.swap16();
      return swapped.toString("utf16le");
    }
    default:
      return undefined;
  }
}

function escapeValue(s: string): string {
  let out = s.replace(/[\\,+"<>;]/g, (c) => `\\${c}`).replace(/\0/g, "\\00");
  if (out.startsWith("#") || out.startsWith(" ")) out = `\\${out}`;
  if (out.endsWith(" ") && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** RFC 4514 string (most significant RDN last, as the RFC orders them). Throws MalformedEnvelopeError on bad DER. */
export function formatName(nameDer: Uint8Array): string {
  const rdns: string[] = [];
  const seq = new DerReader(nameDer).enter(TAG.SEQUENCE, "Name");
  while (!seq.done) {
    const set = seq.enter(TAG.SET, "RelativeDistinguishedName");
    const parts: string[] = [];
    while (!set.done) {
      const atv = set.enter(TAG.SEQUENCE, "AttributeTypeAndValue");
      const type = atv.read(TAG.OID, "attribute type").value;
      const value = atv.read(undefined, "attribute value");
      atv.end("AttributeTypeAndValue");
      const dotted = decodeOid(type) ?? "?";
      const text = decodeString(value.tag, value.value);
      parts.push(`${SHORT_NAMES[dotted] ?? dotted}=${text === undefined ? `#${toHex(value.raw)}` : escapeValue(text)}`);
    }
    rdns.unshift(parts.join("+"));
  }
  return rdns.join(",");
}

/**
 * Normalised certificate serial number: lower-case hex of the INTEGER's content octets without leading 0x00 octets
 * (at least one octet, so zero is "00"). Negative serials, which RFC 5280 forbids, keep their two's-complement octets.
 */
export function serialHex(content: Uint8Array): string {
  let i = 0;
  while (i < content.length - 1 && content[i] === 0) i++;
  return toHex(content.subarray(i));
}
