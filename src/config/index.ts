/**
 * Configuration is read once, at the edge (the CLI), from flags > CERTVAULT_* environment > defaults, and passed
 * down as plain objects. Nothing below this reads process.env.
 */
import { resolve } from "node:path";
import { readFileSync } from "node:fs";
import { UsageError } from "../errors/index.js";
import { thresholdsFrom } from "../anomaly/rules.js";
import type { Thresholds } from "../anomaly/rules.js";
import { parseTrustedProxies } from "./trusted-proxies.js";

export type Env = Readonly<Record<string, string | undefined>>;

export interface CommonConfig {
  home: string;
  /** SQLite file or postgres:// URL. */
  db: string;
  json: boolean;
  passphraseFile: string | undefined;
  /** The passphrase from CERTVAULT_PASSPHRASE, if set. */
  passphraseEnv: string | undefined;
  /** CA keys in a PKCS#11 token: --pkcs11-module/-token/-pin-file or CERTVAULT_PKCS11_{MODULE,TOKEN,PIN_FILE,PIN}. */
  pkcs11?: Pkcs11Config;
}

export interface Pkcs11Config {
  module: string | undefined;
  token: string | undefined;
  pinFile: string | undefined;
  /** The PIN itself, from CERTVAULT_PKCS11_PIN (a PIN is never a flag). */
  pinEnv: string | undefined;
}

export interface ServerConfig extends CommonConfig {
  host: string;
  port: number;
  maxRecordBytes: number;
  /** How often the server polls the registry for revocations (ms). */
  revocationPollMs: number;
  logLevel: string;
  /** Identities whose certificates may read /metrics. */
  adminIdentities: string[];
  /** Requests allowed per `seconds` per identity and per source address; 0 points turns a limit off. */
  rateLimits: { identity: RateLimit; source: RateLimit };
  /** Renewal requests over the API: issued at once ("auto") or kept for an admin ("manual", the default). */
  renewal: "manual" | "auto";
  /** Certificate requests (renewals) and self-revocations per identity per window, counted in the database; 0 points: off. */
  issuanceLimits: { renewal: RateLimit; selfRevocation: RateLimit };
  /** Where the counters live: this process (memory) or the database (shared by every node; PostgreSQL). */
  rateLimitStore: "memory" | "database";
  anomaly: Thresholds;
  /** Requests of one identity in flight at once on one node (429 concurrency_limited above); 0: no cap. */
  maxConcurrentRequests: number;
  /** Alerts are POSTed here as JSON, when set. */
  alertWebhook: string | undefined;
  auditCheckpointEvery: number;
  auditCheckpointMs: number;
  /** The enrollment listener's port (server-auth TLS, POST /v1/enroll only); undefined: no enrollment listener. */
  enrollPort: number | undefined;
  /** Enrollment attempts allowed per `seconds` per source address and per token id. */
  enrollRateLimits: { source: RateLimit; token: RateLimit };
  /** Plain-HTTP port serving the current CRL at the CA's CRL URL path (server/listeners/crl-listener.ts); undefined: none. */
  crlPort: number | undefined;
  /** Balancers (addresses/CIDRs) whose PROXY protocol header names the client; empty: no PROXY protocol. */
  trustedProxies: string[];
  /** How long a connection may take to send its PROXY header (or TLS hello) when trustedProxies is set (ms). */
  proxyHeaderTimeoutMs: number;
}

export interface RateLimit {
  points: number;
  seconds: number;
}

export const DEFAULT_RATE_LIMITS = { identity: { points: 1200, seconds: 60 }, source: { points: 2400, seconds: 60 } };
/** A few a day: a rotation is one request and one self-revocation; a flood (issue, self-revoke, repeat) is not. */
export const DEFAULT_ISSUANCE_LIMITS = {
  renewal: { points: 4, seconds: 86_400 },
  selfRevocation: { points: 4, seconds: 86_400 },
};
/** Enough for a client's connection pool (the SDK uses a few; browsers 6 per host), far under a node's capacity. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 32;
export const DEFAULT_ENROLL_RATE_LIMITS = { source: { points: 30, seconds: 60 }, token: { points: 5, seconds: 60 } };

/** "N/S": N requests per S seconds; "0" turns the limit off. */
export function parseRateLimit(raw: string | undefined, name: string, fallback: RateLimit): RateLimit {
  if (raw === undefined) return fallback;
  if (raw.trim() === "0") return { points: 0, seconds: 1 };
  const m = /^\s*(\d{1,9})\s*\/\s*(\d{1,6})\s*$/.exec(raw);
  if (!m || Number(m[2]) === 0)
    throw new UsageError(`${name} must look like 600/60 (requests per seconds), or 0 to turn it off`);
  return { points: Number(m[1]), seconds: Number(m[2]) };
}

function renewalPolicy(raw: string | undefined): "manual" | "auto" {
  if (raw === undefined || raw === "manual") return "manual";
  if (raw === "auto") return "auto";
  throw new UsageError('--renewal must be "manual" or "auto"');
}

function rateLimitStore(raw: string | undefined): "memory" | "database" {
  if (raw === undefined || raw === "memory") return "memory";
  if (raw === "database") return "database";
  throw new UsageError('--rate-limit-store must be "memory" or "database"');
}

function anomalyThresholds(file: string | undefined): Thresholds {
  if (!file) return thresholdsFrom(undefined);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`cannot read the anomaly thresholds in ${file}: ${(err as Error).message}`);
  }
  try {
    return thresholdsFrom(parsed);
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
}

function list(flags: Flags, name: string, envValue: string | undefined): string[] {
  const v = flags[name];
  const fromFlags = Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
  const all = fromFlags.length > 0 ? fromFlags : (envValue ?? "").split(",");
  return all.map((s) => s.trim()).filter((s) => s.length > 0);
}

export const DEFAULT_HOME = ".certvault";
export const DEFAULT_PORT = 8443;
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

export function defaultDbPath(home: string): string {
  return resolve(home, "certvault.db");
}

export function resolveCommon(flags: Flags, env: Env): CommonConfig {
  const home = resolve(str(flags, "home") ?? env.CERTVAULT_HOME ?? DEFAULT_HOME);
  const db = str(flags, "db") ?? env.CERTVAULT_DB ?? defaultDbPath(home);
  return {
    home,
    db: /^postgres(ql)?:\/\//.test(db) ? db : resolve(db),
    json: flags.json === true,
    passphraseFile: str(flags, "passphrase-file") ?? env.CERTVAULT_PASSPHRASE_FILE,
    passphraseEnv: env.CERTVAULT_PASSPHRASE,
    pkcs11: {
      module: str(flags, "pkcs11-module") ?? env.CERTVAULT_PKCS11_MODULE,
      token: str(flags, "pkcs11-token") ?? env.CERTVAULT_PKCS11_TOKEN,
      pinFile: str(flags, "pkcs11-pin-file") ?? env.CERTVAULT_PKCS11_PIN_FILE,
      pinEnv: env.CERTVAULT_PKCS11_PIN,
    },
  };
}

function intOption(raw: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}

function optionalPort(raw: string | undefined, name: string): number | undefined {
  return raw === undefined || raw === "" ? undefined : intOption(raw, name, 0, 65535, 0);
}

export function resolveServer(flags: Flags, env: Env): ServerConfig {
  return {
    ...resolveCommon(flags, env),
    host: str(flags, "host") ?? env.CERTVAULT_HOST ?? "127.0.0.1",
    port: intOption(str(flags, "port") ?? env.CERTVAULT_PORT ?? env.PORT, "--port", 0, 65535, DEFAULT_PORT),
    maxRecordBytes: intOption(
      str(flags, "max-record-bytes") ?? env.CERTVAULT_MAX_RECORD_BYTES,
      "--max-record-bytes",
      1,
      1024 * 1024 * 1024,
      DEFAULT_MAX_RECORD_BYTES,
    ),
    revocationPollMs: intOption(env.CERTVAULT_REVOCATION_POLL_MS, "CERTVAULT_REVOCATION_POLL_MS", 20, 60_000, 250),
    logLevel: env.CERTVAULT_LOG_LEVEL ?? "info",
    adminIdentities: list(flags, "admin", env.CERTVAULT_ADMIN_IDENTITIES),
    rateLimits: {
      identity: parseRateLimit(
        str(flags, "rate-limit-identity") ?? env.CERTVAULT_RATE_LIMIT_IDENTITY,
        "--rate-limit-identity",
        DEFAULT_RATE_LIMITS.identity,
      ),
      source: parseRateLimit(
        str(flags, "rate-limit-source") ?? env.CERTVAULT_RATE_LIMIT_SOURCE,
        "--rate-limit-source",
        DEFAULT_RATE_LIMITS.source,
      ),
    },
    rateLimitStore: rateLimitStore(str(flags, "rate-limit-store") ?? env.CERTVAULT_RATE_LIMIT_STORE),
    renewal: renewalPolicy(str(flags, "renewal") ?? env.CERTVAULT_RENEWAL),
    issuanceLimits: {
      renewal: parseRateLimit(
        str(flags, "renewal-limit") ?? env.CERTVAULT_RENEWAL_LIMIT,
        "--renewal-limit",
        DEFAULT_ISSUANCE_LIMITS.renewal,
      ),
      selfRevocation: parseRateLimit(
        str(flags, "self-revocation-limit") ?? env.CERTVAULT_SELF_REVOCATION_LIMIT,
        "--self-revocation-limit",
        DEFAULT_ISSUANCE_LIMITS.selfRevocation,
      ),
    },
    anomaly: anomalyThresholds(str(flags, "anomaly-config") ?? env.CERTVAULT_ANOMALY_CONFIG),
    maxConcurrentRequests: intOption(
      str(flags, "max-concurrent-requests") ?? env.CERTVAULT_MAX_CONCURRENT_REQUESTS,
      "--max-concurrent-requests",
      0,
      100_000,
      DEFAULT_MAX_CONCURRENT_REQUESTS,
    ),
    alertWebhook: str(flags, "alert-webhook") ?? env.CERTVAULT_ALERT_WEBHOOK,
    auditCheckpointEvery: intOption(
      env.CERTVAULT_AUDIT_CHECKPOINT_EVERY,
      "CERTVAULT_AUDIT_CHECKPOINT_EVERY",
      1,
      1_000_000,
      100,
    ),
    auditCheckpointMs: intOption(
      env.CERTVAULT_AUDIT_CHECKPOINT_MS,
      "CERTVAULT_AUDIT_CHECKPOINT_MS",
      100,
      86_400_000,
      10_000,
    ),
    enrollPort: optionalPort(str(flags, "enroll-port") ?? env.CERTVAULT_ENROLL_PORT, "--enroll-port"),
    crlPort: optionalPort(str(flags, "crl-port") ?? env.CERTVAULT_CRL_PORT, "--crl-port"),
    trustedProxies: parseTrustedProxies(str(flags, "trusted-proxies") ?? env.CERTVAULT_TRUSTED_PROXIES),
    proxyHeaderTimeoutMs: intOption(
      env.CERTVAULT_PROXY_HEADER_TIMEOUT_MS,
      "CERTVAULT_PROXY_HEADER_TIMEOUT_MS",
      50,
      120_000,
      10_000,
    ),
    enrollRateLimits: {
      source: parseRateLimit(
        str(flags, "enroll-rate-limit-source") ?? env.CERTVAULT_ENROLL_RATE_LIMIT_SOURCE,
        "--enroll-rate-limit-source",
        DEFAULT_ENROLL_RATE_LIMITS.source,
      ),
      token: parseRateLimit(
        str(flags, "enroll-rate-limit-token") ?? env.CERTVAULT_ENROLL_RATE_LIMIT_TOKEN,
        "--enroll-rate-limit-token",
        DEFAULT_ENROLL_RATE_LIMITS.token,
      ),
    },
  };
}
