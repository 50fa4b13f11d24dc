/**
 * A real certvault server for tests — the same startServer() that `certvault server` runs — in this process, on
 * 127.0.0.1 and a free port, over a TestCA's home and registry, with a CertvaultClient factory for any identity the
 * CA issued. `stop()` closes the clients, every connection and the server's database handle.
 *
 * Like the test CA, the server's TLS key (HOME/server/server.key, SANs localhost, 127.0.0.1, ::1) is made here with
 * the cheap test KDF before the server starts, through the CA's own issueForKey; the server finds it and uses it,
 * exactly as it would use one it made on an earlier start.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { pino } from "pino";
import { resolveServer } from "../config/index.js";
import type { ServerConfig } from "../config/index.js";
import { startServer } from "../server/index.js";
import type { RunningServer } from "../server/index.js";
import { SERVER_SANS } from "../server/tls/server-cert.js";
import { encryptPkcs8 } from "../keys/encrypted-pkcs8.js";
import { generateKeyPair } from "../keys/key-types.js";
import { writeFileAtomic, writeSecretFile } from "../files/secret-file.js";
import { CertvaultClient } from "../client-sdk/client.js";
import type { ClientOptions } from "../client-sdk/client.js";
import { onCleanup, TEST_KDF_ITERATIONS } from "./test-ca.js";
import type { TestCA, TestIdentity } from "./test-ca.js";

export interface TestServerOptions {
  ca: TestCA;
  /**
   * The database (SQLite file or postgres:// URL). Default: the CA's own registry database (HOME/certvault.db), which
   * is what the server must use to see the certificates the CA issues; give a different one only together with
   * `createTestCA({ db })`.
   */
  db?: string;
  /** Overrides of the server configuration (e.g. maxRecordBytes, revocationPollMs). */
  config?: Partial<ServerConfig>;
  /** The server's clock (default: the real one). */
  now?: () => Date;
}

export interface TestServer {
  /** https://127.0.0.1:PORT (the server's certificate names 127.0.0.1, localhost and ::1). */
  url: string;
  port: number;
  /** https://127.0.0.1:PORT of the enrollment listener, when started with `config: { enrollPort: 0 }`. */
  enrollUrl?: string;
  /** How often the server polls the registry for revocations (100 ms unless configured). */
  revocationPollMs: number;
  running: RunningServer;
  /**
   * A CertvaultClient for an identity (from this CA, or another CA for negative tests), trusting this CA's root.
   * Closed by stop(); `options` override the defaults (e.g. `{ retries: 0 }`).
   */
  client(identity: Pick<TestIdentity, "certPem" | "key">, options?: Partial<ClientOptions>): CertvaultClient;
  /**
   * Makes the server sync with its registry now: runs one registry poll (revocations, quarantines, a new CRL in the
   * TLS context) that starts after this call, and resolves when it is done. After `await ca.revoke(x)` then
   * `await server.syncRegistry()`, the server refuses x: no need to wait for the poll interval. In-process only.
   */
  syncRegistry(): Promise<void>;
  /** Closes the clients made by client(), every open connection, the listening socket and the database handle. */
  stop(): Promise<void>;
}

/** The server's TLS key and certificate where ensureServerCertificate (server/tls/server-cert.ts) looks for them. */
async function provisionServerIdentity(ca: TestCA): Promise<void> {
  const dir = join(ca.home, "server");
  const keyPath = join(dir, "server.key");
  const certPath = join(dir, "server.crt");
  if (existsSync(keyPath) && existsSync(certPath)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = await generateKeyPair("ec-p256");
  const issued = await ca.authority.issueForKey({
    publicKey: keys.publicKey,
    commonName: "localhost",
    family: "EC",
    keyType: "ec-p256",
    profile: "server",
    days: 365,
    sans: SERVER_SANS,
  });
  const der = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  writeSecretFile(keyPath, encryptPkcs8(der, ca.passphrase, TEST_KDF_ITERATIONS), { overwrite: true });
  der.fill(0);
  writeFileAtomic(certPath, issued.pem, { mode: 0o644, overwrite: true });
}

interface PoolStats {
  numUsed(): number;
  numPendingAcquires(): number;
  numPendingCreates(): number;
}

/**
 * Waits (at most a second) until no query of the server is in flight. RunningServer.close() stops the registry
 * watcher but does not wait for a poll already running, then destroys the database; such a poll's next query then
 * waits on the destroyed pool for knex's 60 s acquire timeout, keeping the test process alive. Between two queries of
 * a poll only microtasks run, so an idle pool seen from a timer means no poll is between queries. (The real fix
 * belongs in server/: close() should await the poll in flight.)
 */
async function untilDatabaseIdle(running: RunningServer): Promise<void> {
  const pool = (running.db.client as { pool?: PoolStats }).pool;
  if (!pool || typeof pool.numUsed !== "function") return;
  const busy = (): boolean => pool.numUsed() + pool.numPendingAcquires() + pool.numPendingCreates() > 0;
  for (let i = 0; i < 200 && busy(); i++) await new Promise((r) => setTimeout(r, 5));
}

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const { ca } = opts;
  await provisionServerIdentity(ca);
  // Defaults as the CLI resolves them (so settings added to the server later get their defaults here too), then ours.
  const config: ServerConfig = {
    ...resolveServer({ home: ca.home, port: "0", host: "127.0.0.1", db: opts.db ?? ca.dbTarget }, {}),
    revocationPollMs: 100,
    logLevel: "silent",
    ...opts.config,
  };
  const running = await startServer({
    config,
    passphrase: ca.passphrase,
    log: pino({ level: "silent" }),
    ...(opts.now ? { now: opts.now } : {}),
  });
  const clients = new Set<CertvaultClient>();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      unregister();
      for (const c of clients) c.close();
      clients.clear();
      running.server.closeAllConnections();
      await untilDatabaseIdle(running);
      // close() stops listening, then the revocation watcher (awaiting a poll in flight), then the database.
      await running.close();
    })();
    return stopped;
  };
  const unregister = onCleanup(ca, stop);
  return {
    url: running.url,
    port: running.port,
    ...(running.enrollUrl ? { enrollUrl: running.enrollUrl } : {}),
    revocationPollMs: config.revocationPollMs,
    running,
    syncRegistry() {
      if (stopped) return Promise.reject(new Error("certvault/testing: this test server is stopped"));
      return running.syncRegistry();
    },
    client(identity, options = {}) {
      if (stopped) throw new Error("certvault/testing: this test server is stopped");
      const c = new CertvaultClient({
        server: running.url,
        caPem: ca.rootPem,
        certPem: identity.certPem,
        key: identity.key,
        ...options,
      });
      clients.add(c);
      return c;
    },
    stop,
  };
}
