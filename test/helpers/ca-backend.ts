/**
 * The key backends the CA suites (test/ca) run over, with the same test bodies:
 *   - `file`: encrypted PKCS#8 key files under HOME/ca, as `ca init --passphrase-file` makes them;
 *   - `softhsm2`: the keys inside a fresh SoftHSM2 token per CA, as `ca init --pkcs11-*` makes them; every CLI call
 *     then gets the token's SOFTHSM2_CONF and PIN file (CaHome.env, CaHome.args).
 * Suites are titled `... [keys: BACKEND]`, so `mocha 'test/ca/**' --grep 'keys: softhsm2'` runs one backend. Without
 * SoftHSM2 the softhsm2 suites skip with the reason, except where SoftHSM2 is required (CI, see softHsmRequired):
 * there they fail. A key type the token cannot make is skipped with the token's own reason (its mechanism list).
 */
import { existsSync } from "node:fs";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA, TestCAOptions } from "../../src/testing/index.js";
import type { KeyType } from "../../src/keys/key-types.js";
import { keyTypeGap, makeProcessToken, skipBecause, softHsmOrSkip } from "../hsm/softhsm.js";
import type { TokenRef } from "../hsm/softhsm.js";
import { cliHome } from "./ca-fixture.js";
import type { CaHome } from "./ca-fixture.js";

export type Backend = "file" | "softhsm2";
export const BACKENDS: readonly Backend[] = ["file", "softhsm2"];

/** The suffix of a parameterised suite's title (one spelling, for --grep). */
export const keysIn = (backend: Backend): string => `[keys: ${backend}]`;

/** What HOME/ca holds after `ca init`, sorted: key files, or pkcs11.json that says where in the token the keys are. */
export const CA_FILES: Record<Backend, readonly string[]> = {
  file: ["intermediate.crt", "intermediate.key", "root.crl", "root.crt", "root.key"],
  softhsm2: ["intermediate.crt", "pkcs11.json", "root.crl", "root.crt"],
};

/** The flags `ca init` takes to put the keys in this token (with its PIN file unless the PIN comes from env). */
export function tokenInitArgs(token: TokenRef, pinFromEnv = false): string[] {
  return [
    "--pkcs11-module",
    token.module,
    "--pkcs11-token",
    token.label,
    ...(pinFromEnv ? [] : ["--pkcs11-pin-file", token.pinFile]),
  ];
}

/**
 * For a before hook: a fresh token for `backend` (undefined for `file`), or skip the suite with the reason when the
 * backend cannot run here or the token cannot make `keyType` keys (fails instead where SoftHSM2 is required).
 */
export async function tokenFor(ctx: Mocha.Context, backend: Backend, keyType?: KeyType): Promise<TokenRef | undefined> {
  if (backend === "file") return undefined;
  const token = await makeProcessToken(softHsmOrSkip(ctx));
  const gap = keyType === undefined ? undefined : keyTypeGap(token, keyType);
  if (gap !== undefined) skipBecause(ctx, gap);
  return token;
}

/** A kit CA whose keys are in one backend, and how the CLI reaches it. */
export interface BackendCa {
  backend: Backend;
  ca: TestCA;
  /** --home, --passphrase-file (+ --pkcs11-pin-file), env (SOFTHSM2_CONF), the registry, a root+intermediate bundle. */
  h: CaHome;
  /** The `ca init` flags that put keys in this CA's token (module, token, PIN file; none for files), e.g. for a second init. */
  initArgs: string[];
  /** The token holding the keys (softhsm2). */
  token?: TokenRef;
}

/**
 * For a before hook: a kit CA (createTestCA) with its keys in `backend`; for softhsm2 made by initCa in a fresh token
 * (the code of `ca init --pkcs11-*`), every kit signature going through the token. Skips as tokenFor does.
 * Clean up with `ca.cleanup()` (it closes the token session; the token goes at exit).
 */
export async function backendCa(ctx: Mocha.Context, backend: Backend, opts: TestCAOptions = {}): Promise<BackendCa> {
  const token = await tokenFor(ctx, backend, opts.keyType ?? "ec-p256");
  if (!token) {
    const ca = await createTestCA(opts);
    return { backend, ca, h: cliHome(ca), initArgs: [] };
  }
  const ca = await createTestCA({ ...opts, pkcs11: { module: token.module, token: token.label, pin: token.pin } });
  // A softhsm2 suite must never test file keys unawares: no key file, and the kit signs through the token.
  if (
    existsSync(ca.paths.rootKey) ||
    existsSync(ca.paths.intermediateKey) ||
    (await ca.signer()).crypto === undefined
  ) {
    await ca.cleanup();
    throw new Error(`the kit made a CA with file keys in ${ca.home} although a token was given`);
  }
  return { backend, ca, h: cliHome(ca, token), initArgs: tokenInitArgs(token), token };
}
