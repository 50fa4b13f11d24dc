/**
 * The certificate a connection's client presented, read from the socket: its DER, serial and SHA-256 fingerprint.
 * Costly, once per connection, so nothing reads it at the handshake: authentication does on a connection's first
 * request (auth.ts), and the revocation watcher only for connections that never sent one (revoked-connections.ts).
 * Measured on this machine, per connection, for a client that sends its chain (as ours must: the server trusts only
 * the root), medians over 150 connections:
 * - getPeerX509Certificate(): ~350 us. Node 20 duplicates the chain certificate (X509_dup, a DER re-decode through
 *   OpenSSL 3.0's decoders), and takes it out of the socket's chain, so a second call costs ~8 us; ~30 us for a client
 *   that sends no chain.
 * - getPeerCertificate(): ~150-200 us for the same fields (raw, serialNumber, fingerprint256).
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
  raw: Buffer;
  /** Hex, as Node spells it (normalizeSerial makes it ours). */
  serialNumber: string;
  /** Colon-separated upper-case hex. */
  fingerprint256: string;
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
  return x && { raw: x.raw, serialNumber: x.serialNumber, fingerprint256: x.fingerprint256 };
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
