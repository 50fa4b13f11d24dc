/**
 * The certificate a connection's client presented, read from the socket: its DER, serial and SHA-256 fingerprint.
 * Read once per socket. After a full handshake that checked the CRL nothing reads it at the handshake: authentication
 * does on a connection's first request (auth.ts), and the revocation watcher only for connections that never sent one
 * (revoked-connections.ts). After a resumed handshake (which checked no CRL), or with no CRL at all, the handshake
 * gate and hook read it at once (handshake-gate.ts, lifecycle/listen.ts), and auth reuses that read.
 * Measured on this machine, per connection, for a client that sends its chain (as ours must: the server trusts only
 * the root), medians over 150 connections:
 * - getPeerX509Certificate(): ~350 us. Node 20 duplicates the chain certificate (X509_dup, a DER re-decode through
 *   OpenSSL 3.0's decoders), and takes it out of the socket's chain, so a second call costs ~8 us; ~30 us for a client
 *   that sends no chain.
 * - getPeerCertificate(): ~150-200 us for the same fields (raw, serialNumber, fingerprint256).
 * Again on 2026-12-03, 600 full TLS 1.2 handshakes: getPeerCertificate() ~80-87 us, getPeerX509Certificate() with
 * serial and fingerprint ~185-190 us: the same order.
 * A resumed session has no chain to copy, and there the order flips (TLS 1.2, medians over 600 resumptions):
 * getPeerX509Certificate() with those three fields ~15-20 us, getPeerCertificate() ~90-95 us (it builds every field,
 * with three fingerprints). So a full handshake's certificate is read with getPeerCertificate(), a resumed one's with
 * getPeerX509Certificate(), and either is read once per socket: the handshake hook of a resumed session (listen.ts)
 * and the connection's first request (auth.ts) share it. A socket's peer certificate cannot change: renegotiation
 * is off (tls.ts), and TLS 1.3 post-handshake authentication is never requested.
 */
import type { TLSSocket } from "node:tls";
import type { X509Certificate } from "node:crypto";
import { normalizeSerial } from "../../ca/serial.js";

export interface PeerCertificate {
  /** DER */
  readonly raw: Buffer;
  /** Hex, as Node spells it (normalizeSerial makes it ours). */
  readonly serialNumber: string;
  /** Colon-separated upper-case hex. */
  readonly fingerprint256: string;
}

const read = new WeakMap<TLSSocket, PeerCertificate>();

/** The client's certificate, or undefined when it presented none (or the socket is gone). */
export function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const known = read.get(socket);
  if (known) return known;
  const cert = socket.isSessionReused() ? fromX509(socket.getPeerX509Certificate()) : fromPeer(socket);
  if (cert) read.set(socket, cert);
  return cert;
}

/** Only the three fields are kept with the socket (~1 KB), not Node's whole object (a few KB more). */
function fromPeer(socket: TLSSocket): PeerCertificate | undefined {
  // Node returns {} for no certificate and null for a destroyed socket.
  const c = socket.getPeerCertificate() as Partial<PeerCertificate> | null;
  return c && c.raw && c.serialNumber && c.fingerprint256
    ? { raw: c.raw, serialNumber: c.serialNumber, fingerprint256: c.fingerprint256 }
    : undefined;
}

function fromX509(x: X509Certificate | undefined): PeerCertificate | undefined {
  return x && new ResumedPeer(x);
}

/**
 * A resumed session's certificate, each field read from Node's X509Certificate when first asked for (CPU profile of
 * TLS 1.3 resumptions: raw ~7 us, fingerprint256 ~4 us, serialNumber ~2 us). The handshake hook needs only the
 * serial; a request's auth the fingerprint, and the DER only for a certificate it has not vetted yet.
 */
class ResumedPeer implements PeerCertificate {
  private der: Buffer | undefined;
  private serial: string | undefined;
  private fingerprint: string | undefined;
  constructor(private readonly x: X509Certificate) {}
  get raw(): Buffer {
    return (this.der ??= this.x.raw);
  }
  get serialNumber(): string {
    return (this.serial ??= this.x.serialNumber);
  }
  get fingerprint256(): string {
    return (this.fingerprint ??= this.x.fingerprint256);
  }
}

export function peerSerial(socket: TLSSocket): string | null {
  try {
    const cert = peerCertificate(socket);
    return cert ? normalizeSerial(cert.serialNumber) : null;
  } catch {
    // A socket already destroyed has no handle to read.
    return null;
  }
}
