/**
 * Throwaway SoftHSM2 tokens for tests and benchmarks: a private SOFTHSM2_CONF and token directory under a temp dir,
 * tokens made with `softhsm2-util --init-token --free`. `findSoftHsm()` says why not when SoftHSM2 is not installed
 * (Debian: apt-get install softhsm2 opensc), so tests can skip with that reason.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MODULE_CANDIDATES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"];

function onPath(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The SoftHSM2 PKCS#11 module, or the reason it cannot be used here. */
export function findSoftHsm(): { module: string } | { missing: string } {
  const module = [process.env.SOFTHSM2_MODULE, ...MODULE_CANDIDATES].find((p) => p !== undefined && p !== "" && existsSync(p));
  if (!module) return { missing: "SoftHSM2 is not installed (no libsofthsm2.so; Debian: apt-get install softhsm2)" };
  if (!onPath("softhsm2-util")) return { missing: "softhsm2-util is not on PATH (Debian: apt-get install softhsm2)" };
  return { module };
}

export function hasPkcs11Tool(): boolean {
  return onPath("pkcs11-tool");
}

export interface SoftHsmToken {
  module: string;
  label: string;
  pin: string;
  pinFile: string;
  /** SOFTHSM2_CONF for every process that uses the token. */
  env: { SOFTHSM2_CONF: string };
  dir: string;
  cleanup(): void;
}

/** A fresh SoftHSM2 configuration with one initialized token in it (user PIN in `pinFile`, 0600). */
export function makeSoftHsmToken(module: string, label = "certvault-test"): SoftHsmToken {
  const dir = mkdtempSync(join(tmpdir(), "certvault-softhsm-"));
  const tokens = join(dir, "tokens");
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = "certvault-pin-" + Math.random().toString(36).slice(2, 10);
  const env = { SOFTHSM2_CONF: conf };
  execFileSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", pin + "-so"], { env: { ...process.env, ...env }, stdio: "pipe" });
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, pin + "\n", { mode: 0o600 });
  return { module, label, pin, pinFile, env, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
