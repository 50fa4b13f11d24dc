/**
 * The handshake refusal, observed. With `rejectUnauthorized: true` Node destroys a socket whose client certificate
 * failed verification (revoked by the CRL, expired, another CA, wrong purpose) silently, after the handshake, with no
 * event (traps.md): the server runs with `rejectUnauthorized: false` instead (tls.ts) and this gate does the same
 * refusal itself, first, on `secureConnection`, before any other listener (the HTTP parser included) sees the
 * socket, so not a byte of a request is read: a socket that is not `authorized` is destroyed at once, exactly as
 * Node did, and what it presented is handed to `onRefused`.
 *
 * One difference on the wire: a client with no certificate at all used to get a `certificate required` alert in the
 * handshake (OpenSSL's SSL_VERIFY_FAIL_IF_NO_PEER_CERT, which Node sets only with rejectUnauthorized); now its
 * handshake completes and the connection is closed before anything is read. A TLS 1.3 resumption of such a session
 * is "authorized" by Node (no certificate to verify): a resumed session is admitted only with a peer certificate.
 */
import type { Server } from "node:https";
import type { TLSSocket } from "node:tls";
import type { X509Certificate } from "node:crypto";
import { clientAddress } from "./proxy-protocol.js";
import { peerCertificate } from "./peer-certificate.js";

export interface RefusedHandshake {
  /** OpenSSL's verification result as Node names it (CERT_REVOKED, CERT_HAS_EXPIRED, ...); undefined: none given. */
  code: string | undefined;
  /** The certificate the client presented, if any. */
  certificate: X509Certificate | undefined;
  /** The client's address (the one a trusted balancer named, proxy-protocol.ts). */
  source: string;
}

/** Node's typings say Error; at run time it is OpenSSL's code as a string. */
function authorizationCode(socket: TLSSocket): string | undefined {
  const e = socket.authorizationError as unknown;
  return typeof e === "string" ? e : e instanceof Error ? ((e as { code?: string }).code ?? e.message) : undefined;
}

function admitted(socket: TLSSocket): boolean {
  if (!socket.authorized) return false;
  // A full handshake is authorized only with a verified certificate; a resumed one may have had none (see above).
  // Read once per socket (peer-certificate.ts): the resumed session's handshake hook and first request reuse it.
  return !socket.isSessionReused() || peerCertificate(socket) !== undefined;
}

/** Installs the gate in front of every `secureConnection` listener the server has now: call it after adding them. */
export function refuseUnauthorized(server: Server, onRefused: (refused: RefusedHandshake) => void): void {
  const downstream = server.listeners("secureConnection") as ((s: TLSSocket) => void)[];
  server.removeAllListeners("secureConnection");
  server.on("secureConnection", (socket: TLSSocket) => {
    if (admitted(socket)) {
      for (const listener of downstream) listener.call(server, socket);
      return;
    }
    // Read before destroy(): the certificate and the address go with the handle.
    const refused: RefusedHandshake = {
      code: authorizationCode(socket),
      certificate: socket.getPeerX509Certificate(),
      source: clientAddress(socket) ?? "unknown",
    };
    socket.destroy();
    onRefused(refused);
  });
}
