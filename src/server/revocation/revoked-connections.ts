/**
 * Open connections by the serial of the certificate they authenticated with, so that a revocation closes them
 * (RevocationWatcher holds one; the serial is learnt lazily, peer-certificate.ts), and each connection's requests in flight (trackRequest, from access-log.ts): a
 * revoked certificate's connection is ended once idle, never under an answer still being written.
 */
import type { TLSSocket } from "node:tls";
import { peerSerial } from "../tls/peer-certificate.js";

const inFlight = new WeakMap<TLSSocket, number>();

/**
 * Counts a request on its connection until its answer is written: a connection whose certificate is revoked is
 * closed at once when idle, and right after the answer in flight otherwise (that request was authorised when it
 * started; cutting it would only turn e.g. the answer to a certificate's own revocation into a hang-up).
 */
export function trackRequest(socket: TLSSocket, res: { once(event: "close", cb: () => void): unknown }): void {
  inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
  res.once("close", () => {
    const n = (inFlight.get(socket) ?? 1) - 1;
    inFlight.set(socket, n);
    if (n === 0) socket.emit("certvault:idle");
  });
}

function closeWhenIdle(socket: TLSSocket): void {
  // end(), not destroy(): an answer that has just finished may still sit in the TLS socket's buffer, and destroy()
  // dropped it (the answer to a certificate's own revocation became a hang-up, seen in CI). The peer gets that answer,
  // then close_notify and FIN; one second later the connection is cut whatever the peer does.
  const close = (): void => {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  };
  if ((inFlight.get(socket) ?? 0) === 0) close();
  else socket.once("certvault:idle", close);
}

export class RevokedConnections {
  private readonly sockets = new Map<string, Set<TLSSocket>>();
  /** Admitted sockets whose certificate nothing has read yet (no request so far): see peer-certificate.ts for why. */
  private readonly unidentified = new Set<TLSSocket>();

  /** An admitted socket, tracked until it closes; its serial is learnt from its first request (identify) or read here when a revocation needs it. */
  admit(socket: TLSSocket): void {
    this.unidentified.add(socket);
    socket.once("close", () => this.unidentified.delete(socket));
  }

  /**
   * The serial a socket authenticated with (authentication read it for the connection's first request). One whose
   * serial is already revoked is ended once idle: its answer in flight (a refusal) is written first.
   */
  identify(serial: string, socket: TLSSocket, revoked: boolean): void {
    this.unidentified.delete(socket);
    if (socket.destroyed) return; // its "close" has been emitted or is on its way: nothing to track

    let set = this.sockets.get(serial);
    if (!set) this.sockets.set(serial, (set = new Set()));
    if (set.has(socket)) return;
    set.add(socket);
    socket.once("close", () => {
      set.delete(socket);
      if (set.size === 0 && this.sockets.get(serial) === set) this.sockets.delete(serial);
    });
    if (revoked) closeWhenIdle(socket);
  }

  /** Ends, once idle, every open connection of a revoked serial, reading the serials of those that sent no request. */
  close(revoked: ReadonlySet<string>): void {
    for (const socket of [...this.unidentified]) {
      const serial = socket.destroyed ? null : peerSerial(socket);
      if (serial === null) this.unidentified.delete(socket);
      else this.identify(serial, socket, false);
    }
    for (const serial of revoked) {
      for (const s of this.sockets.get(serial) ?? []) closeWhenIdle(s);
    }
  }
}
