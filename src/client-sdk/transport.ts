/**
 * HTTPS with the user's certificate over a keep-alive agent. The server must chain to the pinned root (no system
 * store, no skipping verification). Idempotent requests are retried on connection failures; others never are.
 */
import { Agent, request } from "node:https";
import type { IncomingMessage } from "node:http";
import type { KeyObject } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { ConnectionError } from "./errors.js";
import { fromServerAnswer } from "./server-errors.js";

export interface TransportOptions {
  server: string;
  caPem: string;
  certPem: string;
  key: KeyObject;
  timeoutMs?: number;
  retries?: number;
  /** Called with the DER of each CA certificate the server presented in a verified handshake. */
  onServerChain?: (ders: Uint8Array[]) => void;
}

export interface Response {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

const IDEMPOTENT = new Set(["GET", "PUT", "DELETE", "HEAD"]);

export class Transport {
  private readonly agent: Agent;
  private readonly base: URL;

  constructor(private readonly opts: TransportOptions) {
    this.base = new URL(opts.server);
    if (this.base.protocol !== "https:") throw new ConnectionError("the server URL must be https://");
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 8,
      ca: opts.caPem,
      cert: opts.certPem,
      key: opts.key.export({ format: "pem", type: "pkcs8" }) as string,
      rejectUnauthorized: true,
    });
  }

  close(): void {
    this.agent.destroy();
  }

  async send(method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
    const attempts = IDEMPOTENT.has(method) ? 1 + (this.opts.retries ?? 2) : 1;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        return await this.once(method, path, body, headers);
      } catch (err) {
        last = err;
        if (
          !(err instanceof ConnectionError) ||
          (err.cause as NodeJS.ErrnoException | undefined)?.code?.startsWith("ERR_TLS") ||
          isTrustFailure(err)
        )
          break;
      }
    }
    throw last;
  }

  private once(
    method: string,
    path: string,
    body: Uint8Array | undefined,
    headers: Record<string, string>,
  ): Promise<Response> {
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.base),
        {
          method,
          agent: this.agent,
          headers: { ...headers, ...(body ? { "content-length": String(body.byteLength) } : {}) },
          timeout: this.opts.timeoutMs ?? 30_000,
        },
        (res) => {
          this.noteChain(res.socket as TLSSocket);
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on("error", (e) =>
            reject(new ConnectionError(`the connection to ${this.base.origin} failed: ${e.message}`, { cause: e })),
          );
        },
      );
      // The chain is noted when a connection's handshake completes, not at its first answer: a second connection may
      // resume this one's session (no chain of its own) and be answered first (found by the 1-hour soak).
      req.once("socket", (s: TLSSocket) => {
        if (s.connecting || !s.encrypted) s.once("secureConnect", () => this.noteChain(s));
        else this.noteChain(s);
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (e) =>
        reject(new ConnectionError(`the connection to ${this.base.origin} failed: ${e.message}`, { cause: e })),
      );
      req.end(body);
    });
  }

  private readonly chainNoted = new WeakSet<TLSSocket>();

  /** Once per connection: a kept-alive socket presents the same chain on every response. */
  private noteChain(socket: TLSSocket): void {
    if (!this.opts.onServerChain || !socket.authorized || this.chainNoted.has(socket)) return;
    this.chainNoted.add(socket);
    const ders: Uint8Array[] = [];
    let c = socket.getPeerCertificate(true);
    const seen = new Set<string>();
    while (c && c.raw && !seen.has(c.fingerprint256)) {
      seen.add(c.fingerprint256);
      if (c.ca) ders.push(new Uint8Array(c.raw));
      c = c.issuerCertificate;
    }
    this.opts.onServerChain(ders);
  }
}

function isTrustFailure(err: ConnectionError): boolean {
  return /certificate|self[- ]signed|unable to verify/i.test(err.message);
}

/** Throws the server's JSON error rebuilt into its code's class (server-errors.ts), or returns the response. */
export function expectOk(r: Response, ok: number[]): Response {
  if (ok.includes(r.status)) return r;
  let code = "server_error";
  let message = `the server answered ${r.status}`;
  try {
    const e = (JSON.parse(r.body.toString("utf8")) as { error?: { code?: string; message?: string } }).error;
    if (e?.code) code = e.code;
    if (e?.message) message = e.message;
  } catch {
    /* not JSON */
  }
  const retryAfter = r.headers["retry-after"];
  throw fromServerAnswer(r.status, code, message, typeof retryAfter === "string" ? retryAfter : undefined);
}
