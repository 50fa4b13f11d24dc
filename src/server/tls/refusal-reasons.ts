/**
 * What a refused handshake (handshake-gate.ts) is, for its counter label and audit entry (handshake-audit.ts): the
 * reason named from OpenSSL's verification code, and the presented certificate's serial in our spelling.
 */
import { normalizeSerial } from "../../ca/serial.js";
import type { RefusedHandshake } from "./handshake-gate.js";

export type RefusalReason =
  "revoked" | "expired" | "not_yet_valid" | "untrusted" | "wrong_usage" | "no_certificate" | "other";

const REASONS: Record<string, RefusalReason> = {
  CERT_REVOKED: "revoked",
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not_yet_valid",
  UNABLE_TO_GET_ISSUER_CERT: "untrusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "untrusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "untrusted",
  CERT_SIGNATURE_FAILURE: "untrusted",
  SELF_SIGNED_CERT_IN_CHAIN: "untrusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "untrusted",
  CERT_UNTRUSTED: "untrusted",
  CERT_REJECTED: "untrusted",
  INVALID_PURPOSE: "wrong_usage",
};

export function refusalReason(r: RefusedHandshake): RefusalReason {
  if (!r.certificate) return "no_certificate";
  return (r.code !== undefined ? REASONS[r.code] : undefined) ?? "other";
}

/** A presented certificate's serial in our spelling; a foreign one may be anything, so it may also be none. */
export function serialOf(raw: string): string | null {
  try {
    return normalizeSerial(raw);
  } catch {
    return null;
  }
}
