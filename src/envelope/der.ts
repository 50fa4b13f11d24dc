/**
 * A strict DER reader and a small writer for the fixed shapes of the envelope. asn1js (under asn1-schema) spends
 * ~80 us on a 200-byte RecipientInfo and copies a 16 MiB ciphertext several times, which is more than the ECDH it
 * precedes; so the envelope is framed here, without copies, and asn1-schema is used where speed does not matter
 * (certificates, once each, cached). Only definite, minimal lengths and low tag numbers are accepted: DER, not BER.
 */
import { MalformedEnvelopeError } from "./errors.js";

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag number n, primitive or constructed. */
export const ctx = (n: number, constructed: boolean): number => (constructed ? 0xa0 : 0x80) | n;

export interface Tlv {
  readonly tag: number;
  /** The value octets (a view, never a copy). */
  readonly value: Uint8Array;
  /** Tag, length and value octets (a view). */
  readonly raw: Uint8Array;
}

type ErrorFactory = (message: string) => Error;
const malformed: ErrorFactory = (m) => new MalformedEnvelopeError(m);

/** Reads consecutive TLVs from a window of bytes; every defect is reported through `fail`. */
export class DerReader {
  private pos = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fail: ErrorFactory = malformed,
  ) {}

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  peekTag(): number | undefined {
    return this.done ? undefined : this.bytes[this.pos];
  }

  /** Reads the next TLV, which must carry `tag` if given. */
  read(tag?: number, what = "field"): Tlv {
    const b = this.bytes;
    const start = this.pos;
    if (start >= b.length) throw this.fail(`${what}: truncated (missing)`);
    const t = b[start] as number;
    if ((t & 0x1f) === 0x1f) throw this.fail(`${what}: high tag numbers are not used`);
    if (tag !== undefined && t !== tag) throw this.fail(`${what}: unexpected tag 0x${t.toString(16)}`);
    if (start + 1 >= b.length) throw this.fail(`${what}: truncated length`);
    let len = b[start + 1] as number;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0) throw this.fail(`${what}: indefinite length is not DER`);
      if (n > 4) throw this.fail(`${what}: length too large`);
      if (start + 2 + n > b.length) throw this.fail(`${what}: truncated length`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (b[start + 2 + i] as number);
      if (b[start + 2] === 0 || len < 0x80) throw this.fail(`${what}: non-minimal length is not DER`);
      hdr = 2 + n;
    }
    const end = start + hdr + len;
    if (end > b.length) throw this.fail(`${what}: truncated`);
    this.pos = end;
    return { tag: t, value: b.subarray(start + hdr, end), raw: b.subarray(start, end) };
  }

  /** Reads the next TLV only if it carries `tag`. */
  optional(tag: number, what?: string): Tlv | undefined {
    return this.peekTag() === tag ? this.read(tag, what) : undefined;
  }

  /** A reader over the value of the next TLV (which must carry `tag`). */
  enter(tag: number, what?: string): DerReader {
    return new DerReader(this.read(tag, what).value, this.fail);
  }

  /** Asserts the window is fully consumed: nothing may follow the last expected field. */
  end(what = "structure"): void {
    if (!this.done) throw this.fail(`${what}: unexpected trailing data`);
  }

  /** A small non-negative INTEGER (versions, ICV lengths). */
  readSmallInt(what = "integer"): number {
    const v = integerContent(this.read(TAG.INTEGER, what).value, this.fail, what);
    if (v.length > 4 || ((v[0] as number) & 0x80) !== 0) throw this.fail(`${what}: out of range`);
    let n = 0;
    for (const x of v) n = n * 256 + x;
    return n;
  }

  /** A BIT STRING without unused bits, returning its octets. */
  readBitStringOctets(what = "bit string"): Uint8Array {
    const v = this.read(TAG.BIT_STRING, what).value;
    if (v.length === 0 || v[0] !== 0) throw this.fail(`${what}: must have no unused bits`);
    return v.subarray(1);
  }
}

/** Checks an INTEGER's content octets are minimal (DER) and returns them. */
export function integerContent(v: Uint8Array, fail: ErrorFactory = malformed, what = "integer"): Uint8Array {
  if (v.length === 0) throw fail(`${what}: empty`);
  if (v.length > 1) {
    const a = v[0] as number;
    const b = v[1] as number;
    if ((a === 0x00 && (b & 0x80) === 0) || (a === 0xff && (b & 0x80) !== 0)) throw fail(`${what}: non-minimal`);
  }
  return v;
}

/** Reads exactly one TLV that spans all of `bytes`. */
export function readWhole(bytes: Uint8Array, tag: number, what: string, fail: ErrorFactory = malformed): Tlv {
  const r = new DerReader(bytes, fail);
  const tlv = r.read(tag, what);
  r.end(what);
  return tlv;
}

// ---- writing ---------------------------------------------------------------------------------------------------

export function header(tag: number, length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(tag, length);
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  return Uint8Array.of(tag, 0x80 | octets.length, ...octets);
}

/** X.690 11.6: DER orders the elements of a SET OF by their encodings, shorter ones padded with zeros. */
export function derSetOrder(a: Uint8Array, b: Uint8Array): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Encodes one TLV around the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  return concat([header(tag, n), ...parts]);
}

export function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((s) => BigInt(s));
  const [a, b, ...rest] = arcs;
  if (a === undefined || b === undefined) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [a * 40n + b, ...rest]) {
    const groups: number[] = [];
    let x = arc;
    do {
      groups.unshift(Number(x & 0x7fn));
      x >>= 7n;
    } while (x > 0n);
    for (let i = 0; i < groups.length - 1; i++) groups[i] = (groups[i] as number) | 0x80;
    out.push(...groups);
  }
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** Dotted form of an OID's content octets, for messages and inspect(); undefined when not well-formed. */
export function decodeOid(v: Uint8Array): string | undefined {
  if (v.length === 0 || v.length > 64 || ((v[v.length - 1] as number) & 0x80) !== 0) return undefined;
  const arcs: bigint[] = [];
  let x = 0n;
  let fresh = true;
  for (const byte of v) {
    if (fresh && byte === 0x80) return undefined;
    x = (x << 7n) | BigInt(byte & 0x7f);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(x);
      x = 0n;
    }
  }
  const first = arcs.shift() as bigint;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs].join(".");
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
