/**
 * Where recovery lives: the recovery certificate beside the CA (public; servers and SDKs seal to it) and the shares,
 * each a CMS envelope sealed to one custodian's certificate. The recovery private key is never stored whole.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../files/secret-file.js";
import { join } from "node:path";

export interface RecoveryPaths {
  cert: string;
  sharesDir: string;
  /** The policy fixed at init (the minimum waiting period), beside the CA where the operator keeps it. */
  policy: string;
}

export interface RecoveryPolicy {
  minWaitHours: number;
}

export function recoveryPaths(home: string): RecoveryPaths {
  return {
    cert: join(home, "ca", "recovery.crt"),
    sharesDir: join(home, "recovery"),
    policy: join(home, "ca", "recovery-policy.json"),
  };
}

export function readRecoveryCert(paths: RecoveryPaths): string | undefined {
  return existsSync(paths.cert) ? readFileSync(paths.cert, "utf8") : undefined;
}

export function writeRecoveryPolicy(paths: RecoveryPaths, policy: RecoveryPolicy): void {
  // Overwritten by `recovery init --replace`: the new set comes with its own policy.
  writeFileAtomic(paths.policy, JSON.stringify(policy) + "\n", { mode: 0o644, overwrite: true });
}

/** The policy set at init; 24 hours when the file is missing (the safe default). */
export function readRecoveryPolicy(paths: RecoveryPaths): RecoveryPolicy {
  if (!existsSync(paths.policy)) return { minWaitHours: 24 };
  const p = JSON.parse(readFileSync(paths.policy, "utf8")) as Partial<RecoveryPolicy>;
  return { minWaitHours: typeof p.minWaitHours === "number" && p.minWaitHours >= 0 ? p.minWaitHours : 24 };
}
