/**
 * What the SDK remembers between runs so that a server cannot walk it back: the highest CRL number it has verified
 * (an older CRL is refused: a revocation cannot be "forgotten" by replaying last week's list) and the pinned recovery
 * certificate's SHA-256 fingerprint (never swapped silently). In memory for a bare client; a profile keeps it in
 * DIR/trust.json (profile.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../files/secret-file.js";
import { InvalidInputError } from "../errors/index.js";

export interface TrustStateData {
  /** Decimal string (CRL numbers may exceed 2^53). */
  crlNumber?: string;
  /** Lower-case hex SHA-256 of the recovery certificate's DER. */
  recoveryFingerprint?: string;
  /**
   * Every revocation a verified CRL ever showed, serial (normalised hex) -> "time#reason" (ISO, RFC 5280 reason
   * code when given). A later CRL that
   * leaves one out (a database writer set the row back to active, and the server signed what the row said) does not
   * un-revoke it here.
   */
  revoked?: Record<string, string>;
  /**
   * Grants this client took back: "id grantee" -> when (ISO). A grant statement signed before that is not honoured
   * again, so a database writer who restores the old grant row does not get the next version sealed to the grantee.
   */
  unshared?: Record<string, string>;
}

export interface TrustState {
  load(): TrustStateData;
  save(data: TrustStateData): void;
}

export class MemoryTrustState implements TrustState {
  constructor(private data: TrustStateData = {}) {}
  load(): TrustStateData {
    return { ...this.data };
  }
  save(data: TrustStateData): void {
    this.data = { ...data };
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A fingerprint as `openssl x509 -fingerprint -sha256` prints it, or plain hex: normalised to lower-case hex. */
export function normalizeFingerprint(input: string): string {
  const hex = input
    .trim()
    .replace(/^sha256 fingerprint=/i, "")
    .replace(/:/g, "")
    .toLowerCase();
  if (!HEX64.test(hex)) throw new InvalidInputError("a SHA-256 fingerprint is 64 hex digits (colons allowed)");
  return hex;
}

/** A JSON object of key -> ISO time, keys matching `key`; anything else in it is dropped (never trusted as more). */
function timeMap(raw: unknown, key: RegExp): Record<string, string> | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw))
    if (
      key.test(k) &&
      typeof v === "string" &&
      /^[^#]+(#\d{1,2})?$/.test(v) &&
      !Number.isNaN(Date.parse(v.split("#")[0] as string))
    )
      out[k] = v;
  return out;
}

export class FileTrustState implements TrustState {
  constructor(private readonly path: string) {}
  load(): TrustStateData {
    if (!existsSync(this.path)) return {};
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.path, "utf8"));
    } catch {
      throw new InvalidInputError(`${this.path} is not valid JSON`);
    }
    const r = raw as TrustStateData;
    const out: TrustStateData = {};
    if (typeof r.crlNumber === "string" && /^\d{1,40}$/.test(r.crlNumber)) out.crlNumber = r.crlNumber;
    if (typeof r.recoveryFingerprint === "string")
      out.recoveryFingerprint = normalizeFingerprint(r.recoveryFingerprint);
    const revoked = timeMap(r.revoked, /^[0-9a-f]{2,80}$/);
    if (revoked) out.revoked = revoked;
    const unshared = timeMap(r.unshared, /^[0-9a-f]{32} .{1,256}$/s);
    if (unshared) out.unshared = unshared;
    return out;
  }
  save(data: TrustStateData): void {
    writeFileAtomic(this.path, JSON.stringify(data, null, 2) + "\n", { mode: 0o644, overwrite: true });
  }
}
