/**
 * Opening a PKCS#11 token (pkcs11.ts): the module loaded once per process, a session opened and logged in on the
 * token named by label or serial, and which errors mean the session was lost (so the token reopens and retries).
 */
import "reflect-metadata";
import * as graphene from "graphene-pk11";
import { CertvaultError, Pkcs11TokenError } from "../errors/index.js";

const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const modules = new Map<string, graphene.Module>();

/** One loaded (and C_Initialize'd) module per path and process; never finalized, so sessions of several CAs coexist. */
function loadModule(path: string): graphene.Module {
  const known = modules.get(path);
  if (known) return known;
  let mod: graphene.Module;
  try {
    mod = graphene.Module.load(path, "certvault");
  } catch (err) {
    throw new Pkcs11TokenError(`cannot load the PKCS#11 module ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    mod.initialize();
  } catch (err) {
    if ((err as { code?: number }).code !== CKR_CRYPTOKI_ALREADY_INITIALIZED)
      throw new Pkcs11TokenError(`cannot initialize the PKCS#11 module ${path}: ${(err as Error).message}`, {
        cause: err,
      });
  }
  modules.set(path, mod);
  return mod;
}

/** A logged-in read-write session on one token, as a WebCrypto provider. */
/** Return values that mean the session is gone (HSM restarted, network HSM failed over, sessions closed under us). */
const SESSION_LOST = new Set([
  0x30, // CKR_DEVICE_ERROR
  0x31, // CKR_DEVICE_MEMORY
  0x32, // CKR_DEVICE_REMOVED
  0xb0, // CKR_SESSION_CLOSED
  0xb3, // CKR_SESSION_HANDLE_INVALID
  0xe0, // CKR_TOKEN_NOT_PRESENT
  0x101, // CKR_USER_NOT_LOGGED_IN
  0x82, // CKR_OBJECT_HANDLE_INVALID (handles of a previous session)
  0x60, // CKR_KEY_HANDLE_INVALID
]);

export function sessionLost(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number") return SESSION_LOST.has(code);
  return /CKR_(DEVICE_ERROR|DEVICE_MEMORY|DEVICE_REMOVED|SESSION_CLOSED|SESSION_HANDLE_INVALID|TOKEN_NOT_PRESENT|USER_NOT_LOGGED_IN|OBJECT_HANDLE_INVALID|KEY_HANDLE_INVALID)/.test(
    String((err as Error)?.message ?? ""),
  );
}

/**
 * A PKCS#11 failure that is not a lost session, as a token error naming the token and the PKCS#11 function (pkcs11js
 * puts it in `method`): a bare "CKR_GENERAL_ERROR" does not say which call failed. For example, a SoftHSM2 token
 * whose storage directory is removed under a running signer fails its next signature in C_GetTokenInfo with
 * CKR_GENERAL_ERROR (test/hsm/token-vanished.test.ts). Anything else passes through unchanged.
 */
export function tokenFailure(label: string, err: unknown): unknown {
  if (err instanceof CertvaultError) return err;
  const e = err as { code?: unknown; method?: unknown; message?: unknown } | null;
  if (typeof e?.code !== "number" || !/^CKR_\w+$/.test(String(e.message))) return err;
  const method = typeof e.method === "string" && e.method !== "" ? e.method : "a PKCS#11 call";
  return new Pkcs11TokenError(`token "${label}": ${method} failed with ${String(e.message)}`, { cause: err });
}

export interface OpenOptions {
  module: string;
  token: string;
  pin: string;
  serial?: string;
}

/** Finds the one slot whose token has this label (and serial), opens a read-write session and logs in. */
export function openSession(opts: OpenOptions): { session: graphene.Session; serial: string } {
  const mod = loadModule(opts.module);
  const slots = mod.getSlots(true);
  const matches: graphene.Slot[] = [];
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    const token = slot.getToken();
    if (token.label.trim() === opts.token && (opts.serial === undefined || token.serialNumber.trim() === opts.serial))
      matches.push(slot);
  }
  if (matches.length === 0)
    throw new Pkcs11TokenError(
      `no token labelled "${opts.token}"${opts.serial ? ` with serial ${opts.serial}` : ""} in ${opts.module}`,
    );
  if (matches.length > 1)
    throw new Pkcs11TokenError(
      `${matches.length} tokens are labelled "${opts.token}" in ${opts.module}; give each CA its own label`,
    );
  const slot = matches[0] as graphene.Slot;
  const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
  try {
    session.login(opts.pin, graphene.UserType.USER);
  } catch (err) {
    // CKR_USER_ALREADY_LOGGED_IN (0x100): another session of this process logged the token in.
    if ((err as { code?: number }).code !== 0x100) {
      session.close();
      throw new Pkcs11TokenError(`cannot log in to token "${opts.token}": ${(err as Error).message}`, { cause: err });
    }
  }
  return { session, serial: slot.getToken().serialNumber.trim() };
}
