/**
 * The framework floor: a minimal Koa app on the same node:https server and TLS settings as certvault, answering every
 * request with a JSON object shaped like GET /v1/me's. Nothing certvault does (routing, authentication, audit,
 * limits) is in it, so certvault / this is what our own code costs and this / bare is what Koa itself costs.
 */
import Koa from "koa";
import { createServer } from "node:https";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tlsOptions } from "../src/server/tls/tls.js";

const [, , keyFile, certFile, caFile, passphrase] = process.argv;
const pem = "x".repeat(620);
const app = new Koa();
app.use((ctx) => {
  ctx.body = {
    identity: "bench",
    serial: "0".repeat(32),
    notAfter: new Date().toISOString(),
    certificates: [pem],
    recovery: null,
  };
});
const server = createServer(
  tlsOptions({
    key: readFileSync(keyFile as string),
    passphrase: passphrase as string,
    cert: readFileSync(certFile as string, "utf8"),
    ca: readFileSync(caFile as string, "utf8"),
    crl: [],
  }),
  app.callback(),
);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening on https://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
