/**
 * Configuration of the user's and the recovery commands, read here at the edge like the rest (flags > CERTVAULT_*
 * environment > defaults) and passed down: the commands in cli/commands/ read no environment variable themselves.
 */
import { userInfo } from "node:os";
import { UsageError } from "../errors/index.js";
import { resolveCommon } from "./index.js";
import type { CommonConfig, Env } from "./index.js";

type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

export interface ClientConfig extends CommonConfig {
  /** --server or CERTVAULT_SERVER; undefined: the profile's config.json decides (client-sdk/profile.ts). */
  server: string | undefined;
}

export function resolveClient(flags: Flags, env: Env): ClientConfig {
  return { ...resolveCommon(flags, env), server: str(flags, "server") ?? nonEmpty(env.CERTVAULT_SERVER) };
}

export interface RecoveryConfig extends CommonConfig {
  /** --wait-hours or CERTVAULT_RECOVERY_WAIT_HOURS; undefined: the policy fixed at `recovery init`. */
  waitHours: number | undefined;
}

export function resolveRecovery(flags: Flags, env: Env): RecoveryConfig {
  const raw = str(flags, "wait-hours") ?? env.CERTVAULT_RECOVERY_WAIT_HOURS;
  let waitHours: number | undefined;
  if (raw !== undefined) {
    waitHours = raw.trim() === "" ? NaN : Number(raw);
    if (!Number.isFinite(waitHours) || waitHours < 0)
      throw new UsageError("--wait-hours (CERTVAULT_RECOVERY_WAIT_HOURS) must be a number of hours");
  }
  return { ...resolveCommon(flags, env), waitHours };
}

export interface EnrollConfig extends CommonConfig {
  /** The one-time token from CERTVAULT_TOKEN, if set (a secret: preferably --token-file). */
  tokenEnv: string | undefined;
}

export function resolveEnroll(flags: Flags, env: Env): EnrollConfig {
  return { ...resolveCommon(flags, env), tokenEnv: nonEmpty(env.CERTVAULT_TOKEN?.trim()) };
}

/**
 * The admin a CLI command's audit entries name ("cli:NAME"): the operating-system user running it, else $USER (no
 * passwd entry, e.g. an arbitrary uid in a container), else "unknown".
 */
export function adminUser(env: Env, osUser: () => string = () => userInfo().username): string {
  try {
    return osUser();
  } catch {
    return env.USER ?? "unknown";
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}
