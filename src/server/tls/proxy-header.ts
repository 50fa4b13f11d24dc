/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2), parsed from the first bytes of a TCP connection,
 * pure: no socket here. A balancer sends it once, before any byte of the client's own stream, naming the client's
 * address. Strict: v1 is one CRLF-terminated ASCII line of at most 107 bytes; v2 is the 12-byte signature, version 2,
 * command LOCAL or PROXY, TCP over IPv4/IPv6 (or UNSPEC), and at most MAX_V2_BODY bytes of addresses and TLVs (TLVs
 * are skipped, not read). Anything else is `malformed`; bytes that cannot begin either header are `none`.
 */
import { isIPv4, isIPv6, SocketAddress } from "node:net";

export const V1_PREFIX = Buffer.from("PROXY ", "latin1");
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The spec's bound for a v1 line, CRLF included. */
export const V1_MAX = 107;
/** Addresses (at most 216 bytes, AF_UNIX) plus room for a balancer's TLVs (unique id, SSL info); more is refused. */
export const MAX_V2_BODY = 1024;

export type ProxyHeader =
  /** More bytes are needed to decide. */
  | { kind: "incomplete" }
  /** The stream does not begin with a PROXY header (e.g. a TLS ClientHello, first byte 0x16). */
  | { kind: "none" }
  | { kind: "malformed"; why: string }
  /** `length` bytes of header; `client` undefined for LOCAL / UNKNOWN / UNSPEC (the connection's own address holds). */
  | { kind: "header"; version: 1 | 2; length: number; client?: { address: string; port: number } };

/** Whether `buf` is (a prefix of) `sig`, as far as `buf` goes. */
function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return n > 0 && buf.subarray(0, n).equals(sig.subarray(0, n));
}

export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: "incomplete" };
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? { kind: "incomplete" } : parseV1(buf);
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < 16 ? { kind: "incomplete" } : parseV2(buf);
  return { kind: "none" };
}

/** The address as Node itself spells a peer's (IPv6 compressed, lower case), so limits and rules see one key per client. */
function canonical(address: string, family: "ipv4" | "ipv6"): string {
  return new SocketAddress({ address, family }).address;
}

const V1_LINE =
  /^PROXY (TCP4|TCP6) ([0-9A-Fa-f.:]{1,45}) ([0-9A-Fa-f.:]{1,45}) (0|[1-9][0-9]{0,4}) (0|[1-9][0-9]{0,4})$/;

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.subarray(0, V1_MAX).indexOf("\r\n", 0, "latin1");
  if (end < 0)
    return buf.length >= V1_MAX ? { kind: "malformed", why: "v1 line longer than 107 bytes" } : { kind: "incomplete" };
  const line = buf.subarray(0, end).toString("latin1");
  const length = end + 2;
  if (/^PROXY UNKNOWN( [\x20-\x7e]*)?$/.test(line)) return { kind: "header", version: 1, length };
  const m = V1_LINE.exec(line);
  if (!m) return { kind: "malformed", why: "v1 line not understood" };
  const [, proto, src, dst, sport, dport] = m as unknown as [string, string, string, string, string, string];
  const ok = proto === "TCP4" ? isIPv4(src) && isIPv4(dst) : isIPv6(src) && isIPv6(dst);
  if (!ok || Number(sport) > 65535 || Number(dport) > 65535)
    return { kind: "malformed", why: "v1 addresses or ports out of range" };
  return {
    kind: "header",
    version: 1,
    length,
    client: { address: canonical(src, proto === "TCP4" ? "ipv4" : "ipv6"), port: Number(sport) },
  };
}

function ipv6At(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i).toString(16));
  return canonical(groups.join(":"), "ipv6");
}

function parseV2(buf: Buffer): ProxyHeader {
  const versionCommand = buf[12] as number;
  const family = buf[13] as number;
  const bodyLength = buf.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return { kind: "malformed", why: "v2 version is not 2" };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: "malformed", why: "v2 command is neither LOCAL nor PROXY" };
  if (bodyLength > MAX_V2_BODY) return { kind: "malformed", why: `v2 header longer than ${MAX_V2_BODY} bytes` };
  if (buf.length < 16 + bodyLength) return { kind: "incomplete" };
  const length = 16 + bodyLength;
  // LOCAL: the balancer's own connection (a health check); UNSPEC: no address to report. Both keep the peer's address.
  if (command === 0 || family === 0x00) return { kind: "header", version: 2, length };
  if (family === 0x11) {
    if (bodyLength < 12) return { kind: "malformed", why: "v2 TCP/IPv4 body shorter than 12 bytes" };
    return {
      kind: "header",
      version: 2,
      length,
      client: { address: [...buf.subarray(16, 20)].join("."), port: buf.readUInt16BE(24) },
    };
  }
  if (family === 0x21) {
    if (bodyLength < 36) return { kind: "malformed", why: "v2 TCP/IPv6 body shorter than 36 bytes" };
    return { kind: "header", version: 2, length, client: { address: ipv6At(buf, 16), port: buf.readUInt16BE(48) } };
  }
  return { kind: "malformed", why: `v2 family 0x${family.toString(16).padStart(2, "0")} is not TCP over IPv4 or IPv6` };
}
