/**
 * One-time enrollment tokens (`certvault ca token`, `certvault enroll`), pure: how a token is made, spelt, parsed and
 * hashed, how a TTL is read, and how a root fingerprint is printed. The database keeps only the SHA-256 of a token.
 *
 * A token is `cvt1.<id>.<identity>.<secret>`: `id` 32 hex digits (the row, not secret: the admin revokes by it),
 * `identity` the base64url of the name it is bound to (so that `enroll` can put it in the CSR without asking
 * anyone), `secret` 256 random bits in base64url. The hash covers the whole string, so a token whose identity part
 * was edited is simply unknown; the server checks the CSR against the identity stored with the hash, never against
 * the token's own spelling of it.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { InvalidInputError, UsageError } from "../errors/index.js";
import { identityProblem } from "./identity-name.js";

export const TOKEN_PREFIX = "cvt1";
const TOKEN_SHAPE = /^cvt1\.([0-9a-f]{32})\.([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{43})$/;
export const TOKEN_ID_SHAPE = /^[0-9a-f]{32}$/;

export const DEFAULT_TOKEN_TTL_MS = 3_600_000;
export const MIN_TOKEN_TTL_MS = 60_000;
export const MAX_TOKEN_TTL_MS = 7 * 86_400_000;

export interface NewToken {
  id: string;
  identity: string;
  /** The token itself: printed once, never stored. */
  token: string;
  /** SHA-256 of the token, hex: what the database keeps. */
  hash: string;
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/** A fresh token for `identity`, which must pass the identity-name rule (ca/identity-name.ts). */
export function newToken(identity: string): NewToken {
  const problem = identityProblem(identity);
  if (problem) throw new InvalidInputError(`identity: ${problem}`);
  const id = randomBytes(16).toString("hex");
  const token = `${TOKEN_PREFIX}.${id}.${b64url(Buffer.from(identity, "utf8"))}.${b64url(randomBytes(32))}`;
  return { id, identity, token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Whether `token` hashes to `storedHash`, compared in constant time. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(token), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface ParsedToken {
  id: string;
  /** The identity as the token spells it: what `enroll` puts in its CSR. The server believes only its own row. */
  identity: string;
  token: string;
}

/** The parts of a well-formed token, or undefined (never an error naming what was wrong with it). */
export function parseToken(input: string): ParsedToken | undefined {
  const token = input.trim();
  const m = TOKEN_SHAPE.exec(token);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  let identity: string;
  try {
    identity = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(m[2], "base64url"));
  } catch {
    return undefined;
  }
  if (b64url(Buffer.from(identity, "utf8")) !== m[2] || identityProblem(identity) !== undefined) return undefined;
  return { id: m[1], identity, token };
}

/** "90s", "15m", "1h", "7d" (a bare number is seconds) into milliseconds, within 1 minute .. 7 days. */
export function parseTtl(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_TOKEN_TTL_MS;
  const m = /^\s*(\d{1,9})\s*([smhd]?)\s*$/.exec(raw);
  if (!m) throw new UsageError("--ttl must look like 30m, 1h or 2d (s, m, h, d)");
  const unit = { "": 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "" | "s" | "m" | "h" | "d"];
  const ms = Number(m[1]) * unit;
  if (ms < MIN_TOKEN_TTL_MS || ms > MAX_TOKEN_TTL_MS) throw new UsageError("--ttl must be from 1m to 7d");
  return ms;
}

/** A SHA-256 fingerprint (hex) as `openssl x509 -noout -fingerprint -sha256` prints it: upper case, colons. */
export function opensslFingerprint(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(":");
}

export type TokenStatus = "active" | "used" | "expired" | "revoked";

export function tokenStatus(
  t: { usedAt: Date | null; revokedAt: Date | null; expiresAt: Date },
  now: Date,
): TokenStatus {
  if (t.usedAt) return "used";
  if (t.revokedAt) return "revoked";
  return t.expiresAt.getTime() <= now.getTime() ? "expired" : "active";
}
