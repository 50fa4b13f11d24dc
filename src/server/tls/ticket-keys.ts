/**
 * Session-ticket keys, replaced every hour. A ticket is the session's secrets encrypted under this key and handed to
 * the client; whoever steals the key can decrypt every recorded session resumed with a ticket made under it, so the
 * key must not live long. Node holds one key at a time: after a rotation a ticket made under the previous key makes
 * a full handshake (~1.6 ms of server CPU, traps.md) instead of a resumption, at most once per client and hour.
 *
 * Trap (Node 20): server.setSecureContext(), which every CRL refresh calls, puts back the ticket keys given to
 * createServer, undoing every rotation; the caller passes `ticketKeys: server.getTicketKeys()` along (server/index.ts).
 */
import { randomBytes } from "node:crypto";

export const TICKET_KEY_LIFETIME_MS = 3_600_000;

/** Runs `fn` every `ms` until the returned function is called; tests pass one that they drive themselves. */
export type Schedule = (ms: number, fn: () => void) => () => void;

const everyInterval: Schedule = (ms, fn) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

export interface TicketKeyRotation {
  /** Replaces the key now (what the schedule calls). */
  rotate(): void;
  stop(): void;
}

export function rotateTicketKeys(
  server: { setTicketKeys(keys: Buffer): void },
  opts: { everyMs?: number; schedule?: Schedule } = {},
): TicketKeyRotation {
  // 48 bytes: 16 of key name, 16 of HMAC key, 16 of AES key (Node's layout).
  const rotate = (): void => server.setTicketKeys(randomBytes(48));
  const stop = (opts.schedule ?? everyInterval)(opts.everyMs ?? TICKET_KEY_LIFETIME_MS, rotate);
  return { rotate, stop };
}
