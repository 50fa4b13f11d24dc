/**
 * The serial of the certificate a connection's client presented, read from the socket. Costly the first time on a
 * connection: Node 20's getPeerX509Certificate() duplicates the client's chain certificate (X509_dup, a DER
 * re-decode through OpenSSL 3.0's decoders), ~350 us of CPU per connection on this machine against ~30 us for a
 * client that sends no chain (measured, docs/performance.md); it also takes that certificate out of the socket's
 * chain, so a second call costs ~8 us. So nothing reads it at the handshake: authentication does on a connection's
 * first request, and the revocation watcher only for connections that never sent one (revoked-connections.ts).
 */
import type { TLSSocket } from "node:tls";
import { normalizeSerial } from "../../ca/serial.js";

export function peerSerial(socket: TLSSocket): string | null {
  try {
    const cert = socket.getPeerX509Certificate();
    return cert ? normalizeSerial(cert.serialNumber) : null;
  } catch {
    // A socket already destroyed has no handle to read.
    return null;
  }
}
