/**
 * What one `POST /v1/enroll` does (the listener, its answers and its refusal audit are enrollment.ts): rate limits
 * per source and per token id, the JSON body (at most 70 KiB), the token check, the CSR's vetting and CN, the atomic
 * claim, the issue through CertificateAuthority.issueFromCsr, and its `enroll.issue` audit entry. A refusal is
 * thrown as a Refusal: the error the caller sees and the detail the audit trail records (never the token).
 */
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import {
  CsrRejectedError,
  InvalidInputError,
  InvalidTokenError,
  PayloadTooLargeError,
  RateLimitedError,
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
import type { EnrollmentTokenRepository, EnrollmentTokenRow } from "../../store/enrollment-tokens.js";

const MAX_BODY_BYTES = 70 * 1024;

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
export class Refusal extends Error {
  constructor(
    readonly error: CertvaultError,
    readonly detail: Record<string, string>,
    readonly actor = "-",
  ) {
    super(error.message);
  }
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

/** The token's row when the token is valid; any other token is one refusal, 401 invalid_token. */
async function validToken(deps: EnrollmentDeps, token: string, now: Date): Promise<EnrollmentTokenRow> {
  const check = await checkToken(deps.tokens, token, now);
  if (check.ok) return check.row;
  if (check.reason === "expired") await auditExpiredTokens(deps.tokens, deps.audit, "certvault", now);
  // The id of a real token only (an unknown one is the caller's text); the reason for the admin, not the caller.
  throw new Refusal(new InvalidTokenError(), {
    reason: check.reason,
    ...(check.row ? { tokenId: check.row.id, identity: check.row.identity } : {}),
  });
}

/** The CSR passes every CA rule and names the token's identity; the token stays unused otherwise. */
async function vetForToken(csr: string, row: EnrollmentTokenRow): Promise<void> {
  const who = { tokenId: row.id, identity: row.identity };
  let cn: string;
  try {
    cn = (await vetCsr(csr)).commonName;
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
}

/** Claims the token atomically, then issues; a failed issue releases the token. */
async function claimAndIssue(deps: EnrollmentDeps, row: EnrollmentTokenRow, csr: string, now: Date) {
  const who = { tokenId: row.id, identity: row.identity };
  if (!(await deps.tokens.claim(row.id, row.tokenHash, now))) {
    // Another enrollment took it between the check and now.
    throw new Refusal(new InvalidTokenError(), { ...who, reason: "used" });
  }
  try {
    return await deps.ca.issueFromCsr(csr, { profile: "client", days: DEFAULT_DAYS.client });
  } catch (err) {
    await deps.tokens.release(row.id, now).catch(() => undefined);
    throw new Refusal(asCertvaultError(err), { ...who, reason: "issue_failed" }, row.identity);
  }
}

/** One enrollment, from the request to the answer; every refusal is thrown (a Refusal once a token was looked at). */
export async function enroll(deps: EnrollmentDeps, req: IncomingMessage, source: string): Promise<EnrollmentAnswer> {
  await consume(deps.limiters.source, source);
  const body = await readJson(req);
  // Per token id (the caller's claim, when the token is well-formed): guessing the secret of one token is slow too.
  await consume(deps.limiters.token, parseToken(body.token)?.id ?? "malformed");
  const now = deps.now();
  const row = await validToken(deps, body.token, now);
  await vetForToken(body.csr, row);
  const issued = await claimAndIssue(deps, row, body.csr, now);
  await deps.tokens.setSerial(row.id, issued.record.serial);
  await deps.audit({
    time: deps.now(),
    actor: row.identity,
    serial: issued.record.serial,
    source,
    action: "enroll.issue",
    status: 201,
    detail: { tokenId: row.id, identity: row.identity },
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
}
