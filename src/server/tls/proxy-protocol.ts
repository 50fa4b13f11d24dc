/**
 * PROXY protocol in front of TLS: the first bytes of each raw TCP connection are read here, before the TLS server
 * sees the connection, so that rate limits per source, the anomaly rules and the audit `source` column see the
 * client's address rather than the balancer's.
 *
 * Rules (docs/deploy.md "Behind a load balancer"):
 * - from a trusted balancer (config.trustedProxies, CIDRs) a PROXY v1 or v2 header is REQUIRED: a connection without
 *   one is refused (a balancer that is meant to send it and does not is misconfigured, and serving it would put every
 *   client behind the balancer's one address again). LOCAL (v2) and UNKNOWN (v1) keep the balancer's own address;
 * - from anyone else a PROXY header is refused (it would let a client name any address it likes); a connection that
 *   does not begin with one (a TLS ClientHello) is served as a direct client under its own address;
 * - a malformed header, one longer than the spec's bounds, or none decided within `headerTimeoutMs`: refused.
 * Refused = the TCP connection is destroyed without a byte sent, counted in certvault_proxy_protocol_refusals_total
 * {reason} and logged at warn.
 *
 * The rest of the stream is unshifted onto the socket and the TLS server's own connection listener takes it (Node's
 * TLSSocket feeds bytes already buffered on the socket to OpenSSL first). The TLS socket shares the TCP handle, so
 * its remote address and port are the balancer's: the client's address is found by that connection's 4-tuple
 * (clientAddress), which no peer can choose while the connection is open.
 * Cost (measured on this machine kind): parsing a v1/v2 header ~3.5 µs (most of it SocketAddress canonicalising the
 * address), deciding that a ClientHello is none ~0.4 µs; plus one read callback and an unshift per connection,
 * against ~1.6 ms of CPU for the handshake itself. Nothing at all when no trusted proxy is configured (not installed).
 */
import { BlockList, isIPv4 } from "node:net";
import type { Server, Socket } from "node:net";
import type { Logger } from "pino";
import { Counter } from "prom-client";
import { parseProxyHeader, V1_MAX, MAX_V2_BODY } from "./proxy-header.js";
import type { Metrics } from "../metrics.js";

export type ProxyRefusal = "untrusted_header" | "missing_header" | "malformed" | "timeout";

export interface ProxyProtocolOptions {
  /** Addresses or CIDRs of the balancers whose PROXY headers are believed (validated by config/trusted-proxies.ts). */
  trusted: readonly string[];
  headerTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
}

/** The client's address per live connection through a trusted balancer, by the connection's 4-tuple. */
const byTuple = new Map<string, { raw: Socket; address: string }>();
/** Each socket's address once looked up: it stays readable after the socket closed (an audit entry written late). */
const resolved = new WeakMap<object, string>();

function tupleOf(s: Socket): string | undefined {
  return s.remoteAddress === undefined
    ? undefined
    : `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}

/**
 * The client's address for a socket of the API server (raw TCP or the TLS socket over it): the one a trusted
 * balancer named, else the peer's own. undefined once a socket that was never looked up has closed.
 */
export function clientAddress(socket: Socket | null | undefined): string | undefined {
  if (!socket) return undefined;
  const known = resolved.get(socket);
  if (known !== undefined) return known;
  const tuple = tupleOf(socket);
  const address = (tuple === undefined ? undefined : byTuple.get(tuple)?.address) ?? socket.remoteAddress;
  if (address !== undefined) resolved.set(socket, address);
  return address;
}

export function trustedProxyList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split("/") as [string, string | undefined];
    const type = isIPv4(address) ? "ipv4" : "ipv6";
    list.addSubnet(address, prefix === undefined ? (type === "ipv4" ? 32 : 128) : Number(prefix), type);
  }
  return list;
}

/** An IPv4 peer on a dual-stack listener shows as ::ffff:a.b.c.d: checked as the IPv4 address it is. */
export function isTrusted(list: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return list.check(mapped, "ipv4");
  return list.check(address, isIPv4(address) ? "ipv4" : "ipv6");
}

/** Puts the PROXY protocol reader in front of `server`'s own connection listeners (the TLS handshake). */
export function acceptProxyProtocol(server: Server, opts: ProxyProtocolOptions): void {
  const trusted = trustedProxyList(opts.trusted);
  const refusals = new Counter({
    name: "certvault_proxy_protocol_refusals_total",
    help: "Connections refused before TLS: a PROXY header from an untrusted peer, none from a trusted balancer, malformed, or too slow",
    labelNames: ["reason"] as const,
    registers: [opts.metrics.registry],
  });
  const downstream = server.listeners("connection") as ((s: Socket) => void)[];
  server.removeAllListeners("connection");
  server.on("connection", (raw: Socket) => {
    readHeader(raw, isTrusted(trusted, raw.remoteAddress), opts.headerTimeoutMs, {
      refuse(reason, why) {
        refusals.inc({ reason });
        opts.log.warn({ peer: raw.remoteAddress, reason, why }, "PROXY protocol: connection refused");
        raw.destroy();
      },
      accept(client) {
        const tuple = tupleOf(raw);
        if (client !== undefined && tuple !== undefined) {
          const entry = { raw, address: client };
          byTuple.set(tuple, entry);
          raw.once("close", () => byTuple.get(tuple) === entry && byTuple.delete(tuple));
        }
        for (const listener of downstream) listener.call(server, raw);
      },
    });
  });
}

interface Outcome {
  refuse(reason: ProxyRefusal, why: string): void;
  accept(client: string | undefined): void;
}

/** Reads until the first bytes decide; then either refuses, or hands the socket on with the rest unread. */
function readHeader(raw: Socket, fromTrusted: boolean, timeoutMs: number, out: Outcome): void {
  let buffered: Buffer = Buffer.alloc(0);
  // A deadline from connect, not an idle timeout: a peer trickling one byte at a time must not hold the socket for
  // ~1,000 timeouts (found by an attacker's review: socket.setTimeout restarts on every byte).
  const deadline = setTimeout(() => onTimeout(), timeoutMs);
  deadline.unref();
  const done = (): void => {
    raw.off("data", onData);
    raw.off("end", onEnd);
    raw.off("error", onError);
    clearTimeout(deadline);
  };
  // A reset before the hand-over only ends this connection; after it the TLS socket has its own handlers.
  const onError = (): void => {
    done();
    raw.destroy();
  };
  const onTimeout = (): void => (done(), out.refuse("timeout", `no decision within ${timeoutMs} ms`));
  // Closed early: a partial header is malformed; a trusted peer that sent nothing (a TCP health check) sent no header;
  // anyone else who sent nothing is no PROXY matter (the TLS server would not have counted it either).
  const onEnd = (): void => {
    done();
    if (buffered.length > 0) out.refuse("malformed", "closed inside a header");
    else if (fromTrusted) out.refuse("missing_header", "closed before sending anything");
    else raw.destroy();
  };
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const h = parseProxyHeader(buffered);
    if (h.kind === "incomplete" && buffered.length <= 16 + MAX_V2_BODY + V1_MAX) return;
    done();
    raw.pause();
    if (h.kind === "incomplete") return out.refuse("malformed", "header bounds exceeded");
    if (h.kind === "malformed") return out.refuse(fromTrusted ? "malformed" : "untrusted_header", h.why);
    if (h.kind === "header" && !fromTrusted)
      return out.refuse("untrusted_header", `PROXY v${h.version} header from a peer that is not a trusted proxy`);
    if (h.kind === "none" && fromTrusted)
      return out.refuse("missing_header", "a trusted proxy's connection without a PROXY header");
    const rest = h.kind === "header" ? buffered.subarray(h.length) : buffered;
    if (rest.length > 0) raw.unshift(rest);
    out.accept(h.kind === "header" ? h.client?.address : undefined);
  };
  raw.once("close", () => clearTimeout(deadline));
  raw.on("end", onEnd);
  raw.on("data", onData);
  raw.on("error", onError);
}
