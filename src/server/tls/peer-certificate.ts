/**
 * The certificate a connection's client presented, read from the socket: its DER, serial and SHA-256 fingerprint.
 * Costly, once per connection, so nothing reads it at the handshake: authentication does on a connection's first
 * request (auth.ts), and the revocation watcher only for connections that never sent one (revoked-connections.ts).
 * Measured on this machine, per connection, for a client that sends its chain (as ours must: the server trusts only
 * the root), medians over 150 connections:
 * - getPeerX509Certificate(): ~350 us. Node 20 duplicates the chain certificate (X509_dup, a DER re-decode through
 *   OpenSSL 3.0's decoders), and takes it out of the socket's chain, so a second call costs ~8 us; ~30 us for a client
 *   that sends no chain.
 * - getPeerCertificate() (used here): ~150-200 us for the same fields (raw, serialNumber, fingerprint256).
 */
import type { TLSSocket } from "node:tls";
import { normalizeSerial } from "../../ca/serial.js";

export interface PeerCertificate {
  /** DER */
  raw: Buffer;
  /** Hex, as Node spells it (normalizeSerial makes it ours). */
  serialNumber: string;
  /** Colon-separated upper-case hex. */
  fingerprint256: string;
}

/** The client's certificate, or undefined when it presented none (or the socket is gone). */
export function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  // Node returns {} for no certificate and null for a destroyed socket.
  const c = socket.getPeerCertificate() as Partial<PeerCertificate> | null;
  return c && c.raw && c.serialNumber && c.fingerprint256 ? (c as PeerCertificate) : undefined;
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
