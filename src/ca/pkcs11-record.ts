/**
 * Where a CA's keys are: HOME/ca/pkcs11.json, when they are in a PKCS#11 token, records the module path, the token's
 * label and serial, and the keys' labels and CKA_IDs; never the PIN, which comes from --pkcs11-pin-file,
 * CERTVAULT_PKCS11_PIN_FILE or CERTVAULT_PKCS11_PIN. Without that file the keys are encrypted files (ca-files.ts).
 * No native code here: ca/pkcs11.ts (graphene-pk11, node-webcrypto-p11) is imported only when a token is used.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Pkcs11PinRequiredError, Pkcs11TokenError, UsageError } from "../errors/index.js";
import { loadIntermediateSigner } from "./ca-files.js";
import type { CaPaths } from "./ca-files.js";
import type { Signer } from "./sign.js";

/** What the operator gives (flags > env); every field optional: pkcs11.json supplies module and token later. */
export interface Pkcs11Options {
  module?: string | undefined;
  token?: string | undefined;
  pinFile?: string | undefined;
  /** The PIN itself, from CERTVAULT_PKCS11_PIN (never a flag). */
  pinEnv?: string | undefined;
}

export interface Pkcs11KeyRef {
  label: string;
  /** CKA_ID, lower-case hex. */
  id: string;
}

/** HOME/ca/pkcs11.json. */
export interface Pkcs11Record {
  version: 1;
  module: string;
  tokenLabel: string;
  tokenSerial: string;
  keys: { root: Pkcs11KeyRef; intermediate: Pkcs11KeyRef };
}

export function pkcs11RecordPath(paths: CaPaths): string {
  return join(paths.dir, "pkcs11.json");
}

export function readPkcs11Record(paths: CaPaths): Pkcs11Record | undefined {
  const file = pkcs11RecordPath(paths);
  if (!existsSync(file)) return undefined;
  let rec: Pkcs11Record;
  try {
    rec = JSON.parse(readFileSync(file, "utf8")) as Pkcs11Record;
  } catch (err) {
    throw new Pkcs11TokenError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const ok = (k: unknown): boolean =>
    typeof k === "object" &&
    k !== null &&
    typeof (k as Pkcs11KeyRef).label === "string" &&
    /^[0-9a-f]+$/.test(String((k as Pkcs11KeyRef).id));
  if (
    rec.version !== 1 ||
    typeof rec.module !== "string" ||
    typeof rec.tokenLabel !== "string" ||
    typeof rec.tokenSerial !== "string" ||
    !ok(rec.keys?.root) ||
    !ok(rec.keys?.intermediate)
  ) {
    throw new Pkcs11TokenError(`${file} is not a certvault PKCS#11 record (version 1)`);
  }
  return rec;
}

/** The PIN: --pkcs11-pin-file, then CERTVAULT_PKCS11_PIN_FILE (both folded into pinFile by config), then CERTVAULT_PKCS11_PIN. */
export function obtainPkcs11Pin(opts: Pkcs11Options | undefined): string {
  if (opts?.pinFile) {
    let text: string;
    try {
      text = readFileSync(opts.pinFile, "utf8");
    } catch {
      throw new UsageError(`cannot read the PKCS#11 PIN file ${opts.pinFile}`);
    }
    const pin = text.replace(/\r?\n$/, "");
    if (pin.length === 0) throw new UsageError(`the PKCS#11 PIN file ${opts.pinFile} is empty`);
    return pin;
  }
  if (opts?.pinEnv) return opts.pinEnv;
  throw new Pkcs11PinRequiredError();
}

/** Whichever signer this CA has: in a token when HOME/ca/pkcs11.json exists, else the encrypted key file. */
export async function loadCaSigner(
  paths: CaPaths,
  opts: { passphrase: () => Promise<string>; pkcs11?: Pkcs11Options | undefined },
): Promise<Signer> {
  const rec = readPkcs11Record(paths);
  if (rec) return (await import("./pkcs11-signers.js")).loadPkcs11Signer(paths, rec, opts.pkcs11);
  return loadIntermediateSigner(paths, await opts.passphrase());
}
