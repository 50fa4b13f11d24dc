/**
 * The enrollment listener (`certvault server --enroll-port PORT`): a listener of its own, apart from the mutual-TLS
 * API, with server-auth TLS only (no client certificate is asked for) and one endpoint, `POST /v1/enroll`; every
 * other method or path is 404 and nothing of the records API is reachable here.
 *
 * It presents the server certificate with the intermediate AND the root, so that `certvault enroll` can check the
 * root against the fingerprint the admin gave before it sends anything (see docs/pki.md, "Enrollment").
 *
 * A request: `{"token": "cvt1...", "csr": "-----BEGIN CERTIFICATE REQUEST-----..."}` (JSON, at most 70 KiB).
 * Rate-limited per source address, then per token id. A token that is malformed, unknown, altered, used, expired or
 * revoked is one answer, 401 `invalid_token`, whatever the reason (the reason goes to the audit trail only). A valid
 * token with a CSR the CA refuses, or whose CN is not the token's identity, is 400 `csr_rejected` and the token stays
 * unused. Otherwise the token is claimed atomically and the CA issues through the same path as `certvault ca issue`
 * (CertificateAuthority.issueFromCsr: every CSR rule, audited as ca.issue). Every attempt is audited before it is
 * answered (`enroll.issue` or `enroll.refused`), never with the token; the request body is never logged.
 *
 * Here: the listener, its answers, its log line and the audit of refusals; what one request does is enroll-request.ts.
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AuditUnavailableError, RateLimitedError, RouteNotFoundError, asCertvaultError } from "../../errors/index.js";
import type { CertvaultError } from "../../errors/index.js";
import { auditExpiredTokens } from "../../ca/enrollment.js";
import { secureContextOptions } from "../tls/tls.js";
import { errorBody, httpAnswer } from "../errors.js";
import { handleClientErrors } from "../tls/client-error.js";
import { HSTS_HEADER } from "../middleware/hsts.js";
import { Refusal, enroll } from "./enroll-request.js";
import type { EnrollmentDeps } from "./enroll-request.js";

export type { EnrollmentAnswer, EnrollmentDeps } from "./enroll-request.js";

export const ENROLL_PATH = "/v1/enroll";
const EXPIRY_SWEEP_MS = 60_000;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    "strict-transport-security": HSTS_HEADER,
    ...headers,
  });
  res.end(text);
}

/**
 * Every refused attempt is audited (`enroll.refused`) before it is answered: a Refusal with what it knows of the
 * token, any other error (rate limit, body) with its code alone. The error to answer: AuditUnavailableError when the
 * audit entry could not be written.
 */
async function auditRefusal(deps: EnrollmentDeps, err: unknown, source: string): Promise<CertvaultError> {
  if (err instanceof Refusal) {
    const e = err.error;
    try {
      await deps.audit({
        time: deps.now(),
        actor: err.actor,
        source,
        action: "enroll.refused",
        status: httpAnswer(e).status,
        detail: { ...err.detail, code: e.code },
      });
      return e;
    } catch {
      return new AuditUnavailableError();
    }
  }
  const e = asCertvaultError(err);
  if (e.code === "internal_error")
    deps.log.error({ err: { name: (err as Error).name, message: (err as Error).message } }, "enrollment failed");
  // Refused before a token was looked at (rate limit, body): still one audit entry per attempt.
  try {
    await deps.audit({
      time: deps.now(),
      actor: "-",
      source,
      action: "enroll.refused",
      status: httpAnswer(e).status,
      detail: { code: e.code },
    });
    return e;
  } catch {
    return new AuditUnavailableError();
  }
}

function sendError(res: ServerResponse, e: CertvaultError): number {
  const answer = httpAnswer(e);
  send(res, answer.status, answer.body, {
    ...(e instanceof RateLimitedError ? { "retry-after": String(e.retryAfterSeconds) } : {}),
    ...(answer.status === 413 ? { connection: "close" } : {}),
  });
  return answer.status;
}

export function enrollmentHandler(deps: EnrollmentDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = process.hrtime.bigint();
    const source = req.socket.remoteAddress ?? "unknown";
    const path = (req.url ?? "").split("?")[0];
    const known = path === ENROLL_PATH;
    const finish = (status: number): void => {
      // Method, the path only when it is ours (a token pasted into a URL stays out of the log), status, time.
      if (deps.log.isLevelEnabled("info"))
        deps.log.info(
          {
            listener: "enroll",
            method: req.method,
            path: known ? path : "-",
            status,
            source,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          },
          "enroll request",
        );
    };
    if (req.method !== "POST" || !known) {
      send(res, 404, errorBody(new RouteNotFoundError()), { connection: "close" });
      finish(404);
      return;
    }
    enroll(deps, req, source).then(
      (answer) => {
        send(res, 201, answer);
        finish(201);
      },
      async (err: unknown) => finish(sendError(res, await auditRefusal(deps, err, source))),
    );
  };
}

export interface EnrollmentListener {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

interface ListenerOptions {
  host: string;
  port: number;
  keyPem: string;
  certPem: string;
  deps: EnrollmentDeps;
}

/** Server-auth TLS only (no client certificate asked for), presenting `certPem` + intermediate + root. */
function enrollmentServer(opts: ListenerOptions): Server {
  const { deps } = opts;
  const server = createServer(
    {
      ...secureContextOptions({
        key: opts.keyPem,
        cert: opts.certPem + deps.intermediatePem + deps.rootPem,
        ca: deps.rootPem,
        crl: [],
      }),
      requestCert: false,
      rejectUnauthorized: false,
      keepAliveTimeout: 5_000,
      headersTimeout: 10_000,
      requestTimeout: 30_000,
    },
    enrollmentHandler(deps),
  );
  server.on("tlsClientError", (err) =>
    deps.log.debug({ listener: "enroll", err: err.message }, "TLS handshake refused"),
  );
  // As on the API listener: bytes that are not HTTP get a JSON error (a request in flight still gets its answer).
  handleClientErrors(server);
  return server;
}

/** Sweeps expired unused tokens into the audit trail now and every minute; returns the timer. */
function sweepExpiredTokens(deps: EnrollmentDeps): NodeJS.Timeout {
  const sweep = (): void =>
    void auditExpiredTokens(deps.tokens, deps.audit, "certvault", deps.now()).catch((err: unknown) =>
      deps.log.error({ err: (err as Error).message }, "enrollment token expiry sweep failed"),
    );
  sweep();
  const timer = setInterval(sweep, EXPIRY_SWEEP_MS);
  timer.unref();
  return timer;
}

/**
 * Starts the enrollment listener on host:port (0: a free port), presenting `certPem` + intermediate + root.
 * Sweeps expired unused tokens into the audit trail at start and every minute.
 */
export async function startEnrollmentListener(opts: ListenerOptions): Promise<EnrollmentListener> {
  const server = enrollmentServer(opts);
  const timer = sweepExpiredTokens(opts.deps);
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `https://${host}:${port}`,
    port,
    server,
    async close() {
      clearInterval(timer);
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 5_000).unref();
      });
    },
  };
}

/** The records URL for config.json: the configured host, or the name the client used when bound to every address. */
export function recordsUrlFor(host: string, port: number): (hostHeader: string | undefined) => string {
  return (hostHeader) => {
    let name = host;
    if (host === "0.0.0.0" || host === "::" || host === "") {
      const h = (hostHeader ?? "").replace(/:\d+$/, "");
      name = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})$/.test(h) ? h : "localhost";
    }
    return `https://${name.includes(":") && !name.startsWith("[") ? `[${name}]` : name}:${port}`;
  };
}
