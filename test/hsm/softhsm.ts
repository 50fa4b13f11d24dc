/**
 * Throwaway SoftHSM2 tokens for tests and benchmarks. `findSoftHsm()` says why not when SoftHSM2 is not installed
 * (Debian: apt-get install softhsm2 opensc), so tests can skip with that reason, unless the run requires SoftHSM2
 * (`softHsmRequired()`: CI), where they fail instead.
 *
 * Two kinds of token: `makeSoftHsmToken()` gives a token in a SOFTHSM2_CONF of its own, for child processes only;
 * `makeProcessToken()` gives one that this process can also use in-process (see there why that needs care).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Graphene from "graphene-pk11";
import type { KeyType } from "../../src/keys/key-types.js";

const MODULE_CANDIDATES = [
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
];

function onPath(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The SoftHSM2 PKCS#11 module (SOFTHSM2_MODULE when set, and then only it), or the reason it cannot be used here. */
export function findSoftHsm(): { module: string } | { missing: string } {
  const wanted = process.env.SOFTHSM2_MODULE;
  if (wanted !== undefined && wanted !== "" && !existsSync(wanted))
    return { missing: `SOFTHSM2_MODULE=${wanted} does not exist` };
  const module = [wanted, ...MODULE_CANDIDATES].find((p) => p !== undefined && p !== "" && existsSync(p));
  if (!module) return { missing: "SoftHSM2 is not installed (no libsofthsm2.so; Debian: apt-get install softhsm2)" };
  if (!onPath("softhsm2-util")) return { missing: "softhsm2-util is not on PATH (Debian: apt-get install softhsm2)" };
  return { module };
}

export function hasPkcs11Tool(): boolean {
  return onPath("pkcs11-tool");
}

/**
 * Whether this run must exercise the SoftHSM2 tests: in CI (env CI set to anything but "", "0" or "false", as CI
 * services do) or with CERTVAULT_REQUIRE_SOFTHSM=1 (.ci/run exports it). There a missing SoftHSM2 or pkcs11-tool fails.
 */
export function softHsmRequired(): boolean {
  const ci = (process.env.CI ?? "").trim().toLowerCase();
  return (ci !== "" && ci !== "0" && ci !== "false") || process.env.CERTVAULT_REQUIRE_SOFTHSM === "1";
}

/** Skips the running suite or test, printing why (mocha itself shows no reason). */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

/** For a before hook: the SoftHSM2 module; without it, skip with the reason, or fail where SoftHSM2 is required. */
export function softHsmOrSkip(ctx: Mocha.Context): string {
  const found = findSoftHsm();
  if ("missing" in found) {
    if (softHsmRequired())
      throw new Error(`${found.missing}; this run requires the SoftHSM2 tests (CI or CERTVAULT_REQUIRE_SOFTHSM=1)`);
    skipBecause(ctx, found.missing);
  }
  return found.module;
}

/** For a test that reads token objects with pkcs11-tool (opensc): skip without it, or fail where SoftHSM2 is required. */
export function pkcs11ToolOrSkip(ctx: Mocha.Context): void {
  if (hasPkcs11Tool()) return;
  const reason = "pkcs11-tool is not installed (Debian: apt-get install opensc)";
  if (softHsmRequired())
    throw new Error(`${reason}; this run requires the SoftHSM2 tests (CI or CERTVAULT_REQUIRE_SOFTHSM=1)`);
  skipBecause(ctx, reason);
}

/** A token: where it is and how to log in. */
export interface TokenRef {
  module: string;
  label: string;
  pin: string;
  /** The user PIN, 0600, for --pkcs11-pin-file. */
  pinFile: string;
  /** SOFTHSM2_CONF for every process that uses the token. */
  env: { SOFTHSM2_CONF: string };
}

export interface SoftHsmToken extends TokenRef {
  dir: string;
  cleanup(): void;
}

function softHsmDir(): { dir: string; conf: string } {
  const dir = mkdtempSync(join(tmpdir(), "certvault-softhsm-"));
  const tokens = join(dir, "tokens");
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(
    conf,
    `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  return { dir, conf };
}

/** A fresh SoftHSM2 configuration with one initialized token in it (user PIN in `pinFile`, 0600); for child processes. */
export function makeSoftHsmToken(module: string, label = "certvault-test"): SoftHsmToken {
  const { dir, conf } = softHsmDir();
  const pin = "certvault-pin-" + Math.random().toString(36).slice(2, 10);
  const env = { SOFTHSM2_CONF: conf };
  execFileSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", pin + "-so"], {
    env: { ...process.env, ...env },
    stdio: "pipe",
  });
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, pin + "\n", { mode: 0o600 });
  return { module, label, pin, pinFile, env, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
/** The per-process token directory, once made (see makeProcessToken). */
let store:
  { module: string; dir: string; conf: string; made: number; slots: () => Graphene.SlotCollection } | undefined;

/**
 * A fresh token that this process and its child processes can both use. SoftHSM2 reads its configuration, and the
 * tokens that exist, once per process (at C_Initialize): a token made afterwards by softhsm2-util stays invisible to
 * this process, and a SOFTHSM2_CONF set afterwards is ignored. So every in-process token lives in one per-process
 * SOFTHSM2_CONF, set (process.env) before the module is first initialized here, and each token is initialized through
 * the module itself (C_InitToken on the free slot, C_InitPIN), which this process then sees; child processes find it
 * through the same SOFTHSM2_CONF. One token per CA, as docs/hsm.md advises. Everything is removed at exit.
 */
export async function makeProcessToken(module: string, prefix = "cv"): Promise<TokenRef> {
  if (!store) {
    const graphene = await import("graphene-pk11");
    const { dir, conf } = softHsmDir();
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    process.env.SOFTHSM2_CONF = conf;
    const mod = graphene.Module.load(module, "certvault-test-tokens");
    try {
      mod.initialize();
    } catch (err) {
      if ((err as { code?: number }).code !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw err;
      throw new Error(
        "the PKCS#11 module was initialized in this process before makeProcessToken(): it cannot see the tokens made here; use makeProcessToken() for every in-process token",
        { cause: err },
      );
    }
    store = { module, dir, conf, made: 0, slots: () => mod.getSlots(true) };
  }
  if (store.module !== module) throw new Error(`process tokens use ${store.module}, not ${module}`);
  if (process.env.SOFTHSM2_CONF !== store.conf)
    throw new Error("SOFTHSM2_CONF changed under the process tokens: this process's module still reads " + store.conf);
  const graphene = await import("graphene-pk11");
  const slots = store.slots();
  let free: Graphene.Slot | undefined;
  for (let i = 0; i < slots.length && !free; i++)
    if (!(slots.items(i).getToken().flags & graphene.TokenFlag.TOKEN_INITIALIZED)) free = slots.items(i);
  if (!free) throw new Error("SoftHSM2 offers no free slot");
  const label = `${prefix}-${++store.made}`;
  const pin = randomBytes(8).toString("hex");
  const soPin = randomBytes(8).toString("hex");
  // graphene's Slot.initToken trips over pkcs11js returning nothing; the label must be padded to 32 bytes.
  free.lib.C_InitToken(free.handle, soPin, label.padEnd(32, " "));
  const session = free.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
  try {
    session.login(soPin, graphene.UserType.SO);
    session.initPin(pin);
    session.logout();
  } finally {
    session.close();
  }
  const pinFile = join(store.dir, `${label}.pin`);
  writeFileSync(pinFile, pin + "\n", { mode: 0o600 });
  return { module, label, pin, pinFile, env: { SOFTHSM2_CONF: store.conf } };
}

/** What a key type needs from the token: a key-pair generator of that size and the signature node-webcrypto-p11 uses. */
const NEEDS: Record<KeyType, { gen: string[]; sign: string; bits: number }> = {
  "ec-p256": { gen: ["EC_KEY_PAIR_GEN", "ECDSA_KEY_PAIR_GEN"], sign: "ECDSA", bits: 256 },
  "ec-p384": { gen: ["EC_KEY_PAIR_GEN", "ECDSA_KEY_PAIR_GEN"], sign: "ECDSA", bits: 384 },
  "ec-p521": { gen: ["EC_KEY_PAIR_GEN", "ECDSA_KEY_PAIR_GEN"], sign: "ECDSA", bits: 521 },
  "rsa-3072": { gen: ["RSA_PKCS_KEY_PAIR_GEN"], sign: "SHA256_RSA_PKCS", bits: 3072 },
};

/** Why a process token cannot hold CA keys of `keyType` (its mechanism list says so), or undefined when it can. */
export function keyTypeGap(token: TokenRef, keyType: keyof typeof NEEDS): string | undefined {
  if (!store) throw new Error("keyTypeGap: not a process token (makeProcessToken)");
  const slots = store.slots();
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    if (slot.getToken().label.trim() !== token.label) continue;
    const mechs = slot.getMechanisms();
    const have = new Map<string, number>();
    for (let j = 0; j < mechs.length; j++) have.set(mechs.items(j).name, mechs.items(j).maxKeySize);
    const need = NEEDS[keyType];
    const gen = need.gen.find((m) => have.has(m));
    if (gen === undefined)
      return `token "${token.label}" (${token.module}) cannot generate ${keyType} keys: no ${need.gen[0]}`;
    if ((have.get(gen) ?? 0) < need.bits)
      return `token "${token.label}" (${token.module}) makes ${gen} keys of at most ${have.get(gen)} bits, ${keyType} needs ${need.bits}`;
    if (!have.has(need.sign)) return `token "${token.label}" (${token.module}) cannot sign ${keyType}: no ${need.sign}`;
    return undefined;
  }
  throw new Error(`no token labelled "${token.label}" among the process tokens`);
}
