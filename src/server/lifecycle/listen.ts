/**
 * The last step of startServer (index.ts): the HTTPS listener with its TLS hooks (revoked sockets, refused
 * handshakes, PROXY headers, ticket keys, Expect: 100-continue), and the swap of the live TLS context's CRL.
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { peerSerial } from "../tls/peer-certificate.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type Koa from "koa";
import type { Foundations } from "./foundations.js";
import type { RegistryState } from "./watch-registry.js";
import { drainOnClose } from "./graceful-close.js";
import type { Drain } from "./graceful-close.js";
import { secureContextOptions, tlsOptions } from "../tls/tls.js";
import { handleClientErrors } from "../tls/client-error.js";
import { acceptProxyProtocol } from "../tls/proxy-protocol.js";
import { refuseUnauthorized } from "../tls/handshake-gate.js";
import { HandshakeRefusals } from "../tls/handshake-audit.js";
import { rotateTicketKeys } from "../tls/ticket-keys.js";
import type { TicketKeyRotation } from "../tls/ticket-keys.js";

export interface Listening {
  server: Server;
  port: number;
  tickets: TicketKeyRotation;
  handshakes: HandshakeRefusals;
  /** On stop, answers still to be written end their connections (graceful-close.ts). */
  drain: Drain;
}

/**
 * Expect: 100-continue. Node's default sends the 100 at once; a client then streams an over-limit body while the
 * 413 (body.ts refuses from Content-Length) closes the connection under it, and curl could report 100 instead of
 * the 413 (seen in CI). The 100 goes out only when the declared body fits; otherwise the request goes down the
 * whole path (and its audit) and is refused before the client sends a byte of its body.
 */
function continueWhenItFits(server: Server, maxBytes: number): void {
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if (!(Number(req.headers["content-length"]) > maxBytes)) res.writeContinue();
    server.emit("request", req, res);
  });
}

/** Admitted sockets are tracked by serial (a revocation closes them); refused handshakes are audited. */
function handshakeHooks(f: Foundations, r: RegistryState, server: Server): HandshakeRefusals {
  const { config, log, metrics } = f;
  server.on("secureConnection", (socket: TLSSocket) => {
    // A resumed session's handshake checked no CRL (its verification result comes from the ticket), and without the
    // root's CRL no handshake checks one: those connections' serials are read now, so that a revoked certificate's
    // connection is ended at once (found by the attack review). A resumed session has no chain to copy: ~15-20 us,
    // read once for the gate, this hook and auth.ts (server/tls/peer-certificate.ts).
    if (socket.isSessionReused() || f.material.crl.length === 0) {
      const serial = peerSerial(socket);
      if (serial !== null) return r.watcher.identify(serial, socket);
    }
    // Otherwise the handshake checked the CRL, and reading the certificate costs ~150-350 us per connection
    // (server/tls/peer-certificate.ts): auth.ts reads it on the first request, a revocation before that.
    r.watcher.admit(socket);
  });
  // Last of the secureConnection listeners: a client that is not authorized is refused (and audited) before them all.
  const handshakes = new HandshakeRefusals({
    audit: f.audit,
    metrics,
    log,
    now: f.now,
    alertWebhook: config.alertWebhook,
  });
  refuseUnauthorized(server, (refused) => handshakes.refused(refused));
  server.on("tlsClientError", (err) => {
    handshakes.handshakeFailed();
    log.debug({ err: err.message }, "TLS handshake refused");
  });
  return handshakes;
}

/** The HTTPS listener: TLS hooks (revoked sockets, refused handshakes, PROXY headers, ticket keys), then listen. */
export async function listen(f: Foundations, r: RegistryState, app: Koa): Promise<Listening> {
  const { config, log, metrics } = f;
  const server = createServer(
    { ...tlsOptions(f.material), keepAliveTimeout: 30_000, headersTimeout: 20_000, requestTimeout: 120_000 },
    app.callback(),
  );
  // Bytes that are not HTTP after a complete request: its answer still leaves (Node's default would drop it).
  handleClientErrors(server);
  const drain = drainOnClose(server);
  continueWhenItFits(server, config.maxRecordBytes);
  // Behind trusted balancers: their PROXY header is read before TLS and names the client (proxy-protocol.ts).
  if (config.trustedProxies.length > 0)
    acceptProxyProtocol(server, {
      trusted: config.trustedProxies,
      headerTimeoutMs: config.proxyHeaderTimeoutMs,
      log,
      metrics,
    });
  const tickets = rotateTicketKeys(server);
  const handshakes = handshakeHooks(f, r, server);
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolveListen());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  return { server, port, tickets, handshakes, drain };
}

/** Swaps the live TLS context's CRL (the watcher's first CRL arrives before the server exists). */
export function crlInto(f: Foundations, server: () => Server | undefined): (pem: string) => void {
  return (pem) => {
    // Once any CRL is loaded, Node's TLS wants one for every CA of the chain (X509_V_FLAG_CRL_CHECK_ALL); without
    // the root's CRL the handshake would refuse everyone, so then revocation is enforced by the app layer alone.
    f.material.crl = f.certs.rootCrlPem === undefined ? [] : [pem, f.certs.rootCrlPem];
    // With the current ticket key: setSecureContext would put back createServer's (ticket-keys.ts).
    const s = server();
    if (s) s.setSecureContext({ ...secureContextOptions(f.material), ticketKeys: s.getTicketKeys() });
  };
}
