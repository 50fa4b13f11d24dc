/**
 * Raw HTTP/1.1 over node:tls with a client certificate from the kit: the fuzzer's bytes go on the wire exactly as
 * generated (no client library fixes up framing), and the first answer is read back with a small parser.
 */
import { connect } from "node:tls";

export interface RawAnswer {
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** The whole head as received, to search for leaks. */
  head: string;
}

export interface Peer {
  port: number;
  rootPem: string;
  certPem: string;
  keyPem: string;
}

/** Length of a complete chunked body at the start of `b` (incl. the last chunk and trailers), or -1 if incomplete. */
function chunkedLength(b: Buffer): { length: number; body: Buffer } | undefined {
  let i = 0;
  const parts: Buffer[] = [];
  for (;;) {
    const eol = b.indexOf("\r\n", i);
    if (eol < 0) return undefined;
    const size = parseInt(b.subarray(i, eol).toString("latin1").split(";")[0] ?? "", 16);
    if (Number.isNaN(size)) return { length: b.length, body: Buffer.concat(parts) };
    if (size === 0) {
      const end = b.indexOf("\r\n\r\n", eol);
      return end < 0 ? undefined : { length: end + 4, body: Buffer.concat(parts) };
    }
    if (b.length < eol + 2 + size + 2) return undefined;
    parts.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

/** The first complete answer in `buf`, or undefined if more bytes are needed (`closed`: no more will come). */
export function parseAnswer(buf: Buffer, method: string, closed: boolean): RawAnswer | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString("latin1");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(":");
    const k = l.slice(0, c).trim().toLowerCase();
    const v = l.slice(c + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  const rest = buf.subarray(end + 4);
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200))
    return { status, headers, body: Buffer.alloc(0), head };
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const c = chunkedLength(rest);
    return c ? { status, headers, body: c.body, head } : closed ? { status, headers, body: rest, head } : undefined;
  }
  if (headers["content-length"] !== undefined) {
    const n = Number(headers["content-length"]);
    if (rest.length >= n) return { status, headers, body: rest.subarray(0, n), head };
    return closed ? { status, headers, body: rest, head } : undefined;
  }
  return closed ? { status, headers, body: rest, head } : undefined;
}

/**
 * Sends `bytes` and returns the first answer (skipping 100 Continue). `hangUp`: the client goes away as soon as the
 * bytes are written (a truncated body): undefined. `undefined` also when the server closes without a word.
 */
export function exchange(
  peer: Peer,
  bytes: Uint8Array,
  opts: { hangUp: boolean; deadlineMs: number },
): Promise<RawAnswer | undefined> {
  const method = /^[A-Za-z]*/.exec(Buffer.from(bytes.subarray(0, 16)).toString("latin1"))?.[0] ?? "";
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port: peer.port,
      servername: "localhost",
      ca: peer.rootPem,
      cert: peer.certPem,
      key: peer.keyPem,
    });
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (v: RawAnswer | undefined | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const timer = setTimeout(
      () =>
        finish(new Error(`no answer within ${opts.deadlineMs} ms; received: ${buf.toString("latin1").slice(0, 300)}`)),
      opts.deadlineMs,
    );
    const tryParse = (closed: boolean): void => {
      let a = parseAnswer(buf, method, closed);
      while (a && a.status === 100) {
        buf = buf.subarray(buf.indexOf("\r\n\r\n") + 4);
        a = parseAnswer(buf, method, closed);
      }
      if (a) finish(a);
      else if (closed) finish(undefined);
    };
    socket.once("secureConnect", () => {
      socket.write(bytes, () => {
        if (opts.hangUp) finish(undefined);
      });
    });
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      tryParse(false);
    });
    socket.on("error", () => undefined); // a reset after (or instead of) an answer is judged by what arrived
    socket.once("close", () => tryParse(true));
  });
}
