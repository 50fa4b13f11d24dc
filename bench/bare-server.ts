/**
 * The baseline: a bare node:https mTLS server with the same certificates and TLS settings as certvault, answering
 * {"ok":true} to GET and echoing POST bodies. Whatever certvault costs on top of this is certvault's.
 */
import { createServer } from "node:https";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tlsOptions } from "../src/server/tls/tls.js";

const [, , keyFile, certFile, caFile, passphrase, crlFiles] = process.argv;
const ME_SIZED = JSON.stringify({
  identity: "bench",
  serial: "0".repeat(32),
  notAfter: new Date().toISOString(),
  certificates: ["x".repeat(620)],
  recovery: null,
});
const server = createServer(
  tlsOptions({
    key: readFileSync(keyFile as string),
    passphrase: passphrase as string,
    cert: readFileSync(certFile as string, "utf8"),
    ca: readFileSync(caFile as string, "utf8"),
    // Optional: the CRLs certvault loads (comma-separated files), to price revocation checking in the handshake.
    crl: crlFiles ? crlFiles.split(",").map((f) => readFileSync(f, "utf8")) : [],
  }),
  (req, res) => {
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(201, { "content-type": "application/octet-stream" });
        res.end(Buffer.concat(chunks));
      });
      return;
    }
    // GET /me-sized answers a body as large as certvault's GET /v1/me (identity, serial, one PEM certificate), so
    // that the comparison can separate what the server does from what the bytes cost (TLS, the load generator).
    const body = req.url === "/me-sized" ? ME_SIZED : '{"ok":true}';
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  },
);
// A request line the parser refuses (the handshake rows send "GET / x HTTP/1.0"): a 400, then the connection ends
// cleanly, as certvault's server/tls/client-error.ts does. Node's default writes the 400 and destroys the socket at
// once, so the client may see a reset instead, and s_time saves no TLS 1.3 session to resume.
server.on("clientError", (_err, socket) => {
  if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  else socket.destroy();
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening on https://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
