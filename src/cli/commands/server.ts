/** `certvault server`: starts the records server; SIGTERM/SIGINT finish in-flight requests and exit 0. */
import { resolveServer } from "../../config/index.js";
import type { ServerConfig } from "../../config/index.js";
import { caPaths } from "../../ca/ca-files.js";
import { startServer } from "../../server/index.js";
import type { RunningServer } from "../../server/index.js";
import { parse } from "../command-io.js";
import type { Io } from "../command-io.js";
import { obtainPassphrase } from "../passphrase.js";

export const SERVER_OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  "max-record-bytes": { type: "string" },
  admin: { type: "string", multiple: true },
  "rate-limit-identity": { type: "string" },
  "rate-limit-source": { type: "string" },
  "rate-limit-store": { type: "string" },
  renewal: { type: "string" },
  "renewal-limit": { type: "string" },
  "self-revocation-limit": { type: "string" },
  "anomaly-config": { type: "string" },
  "max-concurrent-requests": { type: "string" },
  "alert-webhook": { type: "string" },
  "pkcs11-module": { type: "string" },
  "pkcs11-token": { type: "string" },
  "pkcs11-pin-file": { type: "string" },
  "enroll-port": { type: "string" },
  "crl-port": { type: "string" },
  "enroll-rate-limit-source": { type: "string" },
  "enroll-rate-limit-token": { type: "string" },
  "trusted-proxies": { type: "string" },
} as const;

export const SERVER_HELP = `usage: certvault server [--home DIR] [--host 127.0.0.1] [--port 8443] [--db FILE|URL] [--max-record-bytes N] [--passphrase-file F]
       [--admin IDENTITY]... [--rate-limit-identity N/S] [--rate-limit-source N/S] [--anomaly-config FILE] [--alert-webhook URL]
       [--enroll-port PORT [--enroll-rate-limit-source N/S] [--enroll-rate-limit-token N/S]] [--crl-port PORT]
       [--trusted-proxies CIDR,...]

  --admin IDENTITY          may read GET /metrics (repeatable; env CERTVAULT_ADMIN_IDENTITIES, comma-separated)
  --rate-limit-identity N/S N requests per S seconds per identity (default 1200/60; 0 = off)
  --rate-limit-source N/S   N requests per S seconds per source address (default 2400/60; 0 = off)
  --rate-limit-store memory|database   counters per process (default) or in the database, shared by every node
                            (PostgreSQL; env CERTVAULT_RATE_LIMIT_STORE)
  --renewal manual|auto     certificate renewal requests wait for an admin (default) or are issued at once
                            (env CERTVAULT_RENEWAL)
  --renewal-limit N/S       certificate requests per identity per S seconds (default 4/86400; 0 = off; env
                            CERTVAULT_RENEWAL_LIMIT); --self-revocation-limit N/S likewise for DELETE
                            /v1/certificates/SERIAL (default 4/86400; env CERTVAULT_SELF_REVOCATION_LIMIT)
  --anomaly-config FILE     JSON overrides of the anomaly thresholds (see docs/operations.md)
  --max-concurrent-requests N   requests of one identity in flight at once per node (default 32; 0 = off; env
                            CERTVAULT_MAX_CONCURRENT_REQUESTS); over it: 429 concurrency_limited
  --alert-webhook URL       anomaly alerts are POSTed there as JSON
  --enroll-port PORT        also serve enrollment with one-time tokens (certvault ca token) on PORT (0: a free
                            port): server-auth TLS only, POST /v1/enroll alone; prints "enrollment on URL"
                            (env CERTVAULT_ENROLL_PORT)
  --enroll-rate-limit-source N/S, --enroll-rate-limit-token N/S   enrollment attempts per source address (default
                            30/60) and per token (default 5/60); env CERTVAULT_ENROLL_RATE_LIMIT_SOURCE/_TOKEN
  --crl-port PORT           also serve the current CRL over plain HTTP on PORT (0: a free port) at the path of the
                            CA's CRL URL (ca init --crl-url, ca set-crl-url); prints "crl on URL" (env CERTVAULT_CRL_PORT)
  --trusted-proxies CIDR,... balancers whose PROXY protocol v1/v2 header names the client (required from them,
                            refused from anyone else; env CERTVAULT_TRUSTED_PROXIES; see docs/deploy.md)
  --pkcs11-pin-file F       the PIN of the token holding the CA keys, when HOME/ca/pkcs11.json exists (env
                            CERTVAULT_PKCS11_PIN_FILE or CERTVAULT_PKCS11_PIN); --pkcs11-module PATH and
                            --pkcs11-token LABEL override the recorded ones (see docs/hsm.md)
`;

export async function runUntilSignal(running: RunningServer): Promise<number> {
  return new Promise((resolveExit) => {
    const stop = (): void => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      running.close().then(
        () => resolveExit(0),
        () => resolveExit(1),
      );
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

export async function launch(config: ServerConfig, io: Io): Promise<RunningServer> {
  const passphrase = await obtainPassphrase({ ...config, devPassphraseFile: caPaths(config.home).devPassphrase }, io, {
    prompt: "CA passphrase: ",
  });
  const running = await startServer({ config, passphrase });
  io.out(`listening on ${running.url}\n`);
  if (running.enrollUrl) io.out(`enrollment on ${running.enrollUrl}\n`);
  if (running.crlUrl) io.out(`crl on ${running.crlUrl}\n`);
  return running;
}

export async function serverCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(argv, SERVER_OPTIONS, { positionals: 0, help: SERVER_HELP });
  const running = await launch(resolveServer(flags, io.env), io);
  return runUntilSignal(running);
}
