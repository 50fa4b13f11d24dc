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
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import {
  AuditUnavailableError,
  CsrRejectedError,
  InvalidInputError,
  InvalidTokenError,
  PayloadTooLargeError,
  RateLimitedError,
  RouteNotFoundError,
  ServiceUnavailableError,
  asCertvaultError,
} from "../../errors/index.js";
import type { CertvaultError } from "../../errors/index.js";
import type { CertificateAuthority } from "../../ca/authority.js";
import { vetCsr } from "../../ca/csr.js";
import { DEFAULT_DAYS } from "../../ca/profiles.js";
import { auditExpiredTokens, checkToken } from "../../ca/enrollment.js";
import type { AppendAudit } from "../../ca/enrollment.js";
import { parseToken } from "../../ca/enrollment-token.js";
import type { EnrollmentTokenRepository } from "../../store/enrollment-tokens.js";
import { secureContextOptions } from "../tls/tls.js";
import { errorBody, httpAnswer } from "../errors.js";
import { handleClientErrors } from "../tls/client-error.js";
import { HSTS_HEADER } from "../middleware/hsts.js";

export const ENROLL_PATH = "/v1/enroll";
const MAX_BODY_BYTES = 70 * 1024;
const EXPIRY_SWEEP_MS = 60_000;

export interface EnrollmentDeps {
  tokens: EnrollmentTokenRepository;
  ca: CertificateAuthority;
  audit: AppendAudit;
  log: Logger;
  now: () => Date;
  limiters: { source?: RateLimiterAbstract; token?: RateLimiterAbstract };
  rootPem: string;
  intermediatePem: string;
  /** The mutual-TLS URL for records, told to the client (config.json); `hostHeader` is how it reached us. */
  recordsUrl: (hostHeader: string | undefined) => string;
  /** The vetted recovery certificate, if recovery is set up: the new profile pins it (the client checks it chains). */
  recovery?: () => Promise<string | undefined>;
}

export interface EnrollmentAnswer {
  identity: string;
  serial: string;
  certificate: string;
  chain: string[];
  root: string;
  server: string;
  recovery: string | null;
}

/** One refusal: the error the caller sees, and what the audit trail records. */
class Refusal extends Error {
  constructor(
    readonly error: CertvaultError,
    readonly detail: Record<string, string>,
    readonly actor = "-",
  ) {
    super(error.message);
  }
}

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

async function readJson(req: IncomingMessage): Promise<{ token: string; csr: string }> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES)
    throw new PayloadTooLargeError(`the body exceeds ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) throw new PayloadTooLargeError(`the body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new InvalidInputError('the body must be JSON {"token": "...", "csr": "PEM"}');
  }
  const p = parsed as { token?: unknown; csr?: unknown } | null;
  if (!p || typeof p.token !== "string" || typeof p.csr !== "string")
    throw new InvalidInputError('the body must be JSON {"token": "...", "csr": "PEM"}');
  return { token: p.token, csr: p.csr };
}

async function consume(limiter: RateLimiterAbstract | undefined, key: string): Promise<void> {
  if (!limiter) return;
  try {
    await limiter.consume(key, 1);
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw new ServiceUnavailableError("the rate limiter is unavailable");
    throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
  }
}

export function enrollmentHandler(deps: EnrollmentDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const enroll = async (req: IncomingMessage, source: string): Promise<EnrollmentAnswer> => {
    await consume(deps.limiters.source, source);
    const body = await readJson(req);
    // Per token id (the caller's claim, when the token is well-formed): guessing the secret of one token is slow too.
    await consume(deps.limiters.token, parseToken(body.token)?.id ?? "malformed");
    const now = deps.now();
    const check = await checkToken(deps.tokens, body.token, now);
    if (!check.ok) {
      if (check.reason === "expired") await auditExpiredTokens(deps.tokens, deps.audit, "certvault", now);
      // The id of a real token only (an unknown one is the caller's text); the reason for the admin, not the caller.
      throw new Refusal(new InvalidTokenError(), {
        reason: check.reason,
        ...(check.row ? { tokenId: check.row.id, identity: check.row.identity } : {}),
      });
    }
    const { row } = check;
    const who = { tokenId: row.id, identity: row.identity };
    let cn: string;
    try {
      cn = (await vetCsr(body.csr)).commonName;
    } catch (err) {
      const e = asCertvaultError(err);
      throw new Refusal(e, { ...who, reason: "csr_rejected" }, row.identity);
    }
    if (cn !== row.identity) {
      throw new Refusal(
        new CsrRejectedError("the CSR's CN is not the identity this token was issued for"),
        { ...who, reason: "identity_mismatch" },
        row.identity,
      );
    }
    if (!(await deps.tokens.claim(row.id, row.tokenHash, now))) {
      // Another enrollment took it between the check and now.
      throw new Refusal(new InvalidTokenError(), { ...who, reason: "used" });
    }
    let issued;
    try {
      issued = await deps.ca.issueFromCsr(body.csr, { profile: "client", days: DEFAULT_DAYS.client });
    } catch (err) {
      await deps.tokens.release(row.id, now).catch(() => undefined);
      throw new Refusal(asCertvaultError(err), { ...who, reason: "issue_failed" }, row.identity);
    }
    await deps.tokens.setSerial(row.id, issued.record.serial);
    await deps.audit({
      time: deps.now(),
      actor: row.identity,
      serial: issued.record.serial,
      source,
      action: "enroll.issue",
      status: 201,
      detail: who,
    });
    return {
      identity: row.identity,
      serial: issued.record.serial,
      certificate: issued.pem,
      chain: [deps.intermediatePem],
      root: deps.rootPem,
      server: deps.recordsUrl(req.headers.host),
      recovery: (await deps.recovery?.()) ?? null,
    };
  };

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
      const e = new RouteNotFoundError();
      send(res, 404, errorBody(e), { connection: "close" });
      finish(404);
      return;
    }
    enroll(req, source).then(
      (answer) => {
        send(res, 201, answer);
        finish(201);
      },
      async (err: unknown) => {
        let e: CertvaultError;
        if (err instanceof Refusal) {
          e = err.error;
          try {
            await deps.audit({
              time: deps.now(),
              actor: err.actor,
              source,
              action: "enroll.refused",
              status: httpAnswer(e).status,
              detail: { ...err.detail, code: e.code },
            });
          } catch {
            e = new AuditUnavailableError();
          }
        } else {
          e = asCertvaultError(err);
          if (e.code === "internal_error")
            deps.log.error(
              { err: { name: (err as Error).name, message: (err as Error).message } },
              "enrollment failed",
            );
          // Refused before a token was looked at (rate limit, body): still one audit entry per attempt.
          await deps
            .audit({
              time: deps.now(),
              actor: "-",
              source,
              action: "enroll.refused",
              status: httpAnswer(e).status,
              detail: { code: e.code },
            })
            .catch(() => {
              e = new AuditUnavailableError();
            });
        }
        const answer = httpAnswer(e);
        send(res, answer.status, answer.body, {
          ...(e instanceof RateLimitedError ? { "retry-after": String(e.retryAfterSeconds) } : {}),
          ...(answer.status === 413 ? { connection: "close" } : {}),
        });
        finish(answer.status);
      },
    );
  };
}

export interface EnrollmentListener {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/**
 * Starts the enrollment listener on host:port (0: a free port), presenting `certPem` + intermediate + root.
 * Sweeps expired unused tokens into the audit trail at start and every minute.
 */
export async function startEnrollmentListener(opts: {
  host: string;
  port: number;
  keyPem: string;
  certPem: string;
  deps: EnrollmentDeps;
}): Promise<EnrollmentListener> {
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
  const sweep = (): void =>
    void auditExpiredTokens(deps.tokens, deps.audit, "certvault", deps.now()).catch((err: unknown) =>
      deps.log.error({ err: (err as Error).message }, "enrollment token expiry sweep failed"),
    );
  sweep();
  const timer = setInterval(sweep, EXPIRY_SWEEP_MS);
  timer.unref();
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
