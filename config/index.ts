/**
 * Configuration is read once, at the edge (the CLI), from flags > CERTVAULT_* environment > defaults, and passed
 * down as plain objects. Nothing below this reads process.env.
 */
import { resolve } from "node:path";
import { UsageError } from "../errors/index.js";

export type Env = Readonly<Record<string, string | undefined>>;

export interface CommonConfig {
  home: string;
  /** SQLite file or postgres:// URL. */
  db: string;
  json: boolean;
  passphraseFile: string | undefined;
  /** The passphrase from CERTVAULT_PASSPHRASE, if set. */
  passphraseEnv: string | undefined;
}

export interface ServerConfig extends CommonConfig {
  host: string;
  port: number;
  maxRecordBytes: number;
  /** How often the server polls the registry for revocations (ms). */
  revocationPollMs: number;
  logLevel: string;
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
  };
}

function intOption(raw: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}

export function resolveServer(flags: Flags, env: Env): ServerConfig {
  return {
    ...resolveCommon(flags, env),
    host: str(flags, "host") ?? env.CERTVAULT_HOST ?? "127.0.0.1",
    port: intOption(str(flags, "port") ?? env.CERTVAULT_PORT ?? env.PORT, "--port", 0, 65535, DEFAULT_PORT),
    maxRecordBytes: intOption(str(flags, "max-record-bytes") ?? env.CERTVAULT_MAX_RECORD_BYTES, "--max-record-bytes", 1, 1024 * 1024 * 1024, DEFAULT_MAX_RECORD_BYTES),
    revocationPollMs: intOption(env.CERTVAULT_REVOCATION_POLL_MS, "CERTVAULT_REVOCATION_POLL_MS", 20, 60_000, 250),
    logLevel: env.CERTVAULT_LOG_LEVEL ?? "info",
  };
}
