/**
 * Where recovery lives: the recovery certificate beside the CA (public; servers and SDKs seal to it) and the shares,
 * each a CMS envelope sealed to one custodian's certificate. The recovery private key is never stored whole.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface RecoveryPaths {
  cert: string;
  sharesDir: string;
}

export function recoveryPaths(home: string): RecoveryPaths {
  return { cert: join(home, "ca", "recovery.crt"), sharesDir: join(home, "recovery") };
}

export function readRecoveryCert(paths: RecoveryPaths): string | undefined {
  return existsSync(paths.cert) ? readFileSync(paths.cert, "utf8") : undefined;
}
