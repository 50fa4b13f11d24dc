/**
 * The framework floor plus certvault's controls, nothing else: the minimal Koa app of koa-server.ts, behind the
 * audit trail (one hash-chained entry per request, committed before the answer), both rate-limit buckets, the
 * anomaly rules and the concurrency cap, built by the same startServer the CLI runs (its own listener is closed
 * again). No routing, no authentication (the caller is the client certificate's, read once per connection), no
 * handler: what certvault's GET /v1/me could reach if everything but the controls cost nothing.
 */
import Koa from "koa";
import { createServer } from "node:https";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { resolveServer } from "../src/config/index.js";
import { startServer } from "../src/server/index.js";
import type { Controls } from "../src/server/controls.js";
import { tlsOptions } from "../src/server/tls/tls.js";
import { auditTrail } from "../src/server/middleware/audit-trail.js";
import { rateLimit } from "../src/server/middleware/rate-limit.js";
import { concurrencyCap } from "../src/server/middleware/concurrency-cap.js";
import type { AppState } from "../src/server/state.js";

const [, , home, passphraseFile, keyFile, certFile, caFile] = process.argv;
const passphrase = readFileSync(passphraseFile as string, "utf8").trim();
const config = resolveServer(
  {
    home,
    port: "0",
    "rate-limit-identity": "100000000/60",
    "rate-limit-source": "100000000/60",
    "max-concurrent-requests": "100000",
  },
  { CERTVAULT_LOG_LEVEL: "warn" },
);
let c: Controls | undefined;
const running = await startServer({ config, passphrase, controls: (real) => (c = real) });
const controls = c as Controls;
const pem = "x".repeat(620);
const app = new Koa<AppState>();
app.use(auditTrail(controls));
app.use(rateLimit(controls.limiters.source, "source", controls.metrics));
const callers = new WeakMap<TLSSocket, AppState["caller"]>();
app.use((ctx, next) => {
  const socket = ctx.req.socket as TLSSocket;
  let caller = callers.get(socket);
  if (!caller) {
    const cert = socket.getPeerCertificate();
    caller = {
      identity: "bench",
      serial: cert.serialNumber.toLowerCase(),
      notBefore: 0,
      notAfter: Date.parse(cert.valid_to),
      pem,
    };
    callers.set(socket, caller);
  }
  ctx.state.caller = caller;
  return next();
});
app.use(rateLimit(controls.limiters.identity, "identity", controls.metrics));
app.use(concurrencyCap(controls.maxConcurrentRequests, controls.metrics));
app.use((ctx) => {
  ctx.state.route = { action: "me", kind: "other" };
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
    passphrase,
    cert: readFileSync(certFile as string, "utf8"),
    ca: readFileSync(caFile as string, "utf8"),
    crl: [],
  }),
  app.callback(),
);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening on https://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => {
  server.close(() => void running.close().then(() => process.exit(0)));
  server.closeAllConnections();
});
