/**
 * `certvault server --crl-port PORT`: the current CRL over plain HTTP at the path of the CA's CRL distribution point
 * (ca/crl-url.ts), for relying parties that follow the URL in our certificates (openssl, browsers, Windows). CRLs
 * are signed and public, so no TLS and no client certificate; and nothing else is served on this port: GET and HEAD
 * of that one path, 405 for other methods on it, 404 for every other path.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { CaPaths } from "../../ca/ca-files.js";
import { readCrlUrl } from "../../ca/crl-url.js";
import { UsageError } from "../../errors/index.js";

export interface CrlListener {
  /** http://HOST:PORT/PATH as bound (PORT 0: the port chosen). */
  url: string;
  close(): Promise<void>;
}

export interface CrlListenerOptions {
  host: string;
  port: number;
  /** The distribution point's path, e.g. "/certvault.crl". */
  path: string;
  /** The current CRL (DER): the revocation watcher's, refreshed on every revocation. */
  crlDer: () => Uint8Array;
}

function answer(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function handler(opts: CrlListenerOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    // The path alone: a query string (cache busters some clients add) does not make it another resource.
    const path = (req.url ?? "").split("?")[0];
    if (path !== opts.path) return answer(res, 404, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD")
      return answer(res, 405, "method not allowed\n", { Allow: "GET, HEAD" });
    const der = opts.crlDer();
    if (der.length === 0) return answer(res, 503, "no CRL yet\n", { "Retry-After": "1" });
    res.writeHead(200, {
      "Content-Type": "application/pkix-crl",
      "Content-Length": String(der.length),
      // A revocation is in the served CRL within a second; caches may keep it a minute at most.
      "Cache-Control": "public, max-age=60",
    });
    res.end(req.method === "HEAD" ? undefined : Buffer.from(der));
  };
}

export async function startCrlListener(opts: CrlListenerOptions): Promise<CrlListener> {
  // Short timeouts: a CRL fetch is one small GET; nothing here is worth holding a slow client for.
  const server: Server = createServer(
    { headersTimeout: 10_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 },
    handler(opts),
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}${opts.path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The listener for `--crl-port`, at the path of HOME/ca/crl.json's URL; refused when the CA publishes no CRL URL. */
export async function startCrlPublishing(
  paths: CaPaths,
  host: string,
  port: number,
  crlDer: () => Uint8Array,
): Promise<CrlListener> {
  const url = readCrlUrl(paths);
  if (url === undefined)
    throw new UsageError(
      '--crl-port serves the CRL at the CA\'s CRL URL, and this CA has none: run "certvault ca set-crl-url http://HOST/PATH" first',
    );
  return startCrlListener({ host, port, path: new URL(url).pathname, crlDer });
}
