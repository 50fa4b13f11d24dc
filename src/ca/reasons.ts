/**
 * RFC 5280 revocation reasons accepted by `ca revoke`. certificateHold (reversible) and removeFromCRL (delta CRLs)
 * are left out: a revocation here is final.
 */
import { x509 } from "../x509/x509.js";
import { UsageError } from "../errors/index.js";

export const REASONS = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  cACompromise: x509.X509CrlReason.cACompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
  privilegeWithdrawn: x509.X509CrlReason.privilegeWithdrawn,
  aACompromise: x509.X509CrlReason.aACompromise,
} as const;
export type ReasonName = keyof typeof REASONS;

export function parseReason(value: string | undefined): ReasonName {
  if (value === undefined) return "unspecified";
  if (Object.hasOwn(REASONS, value)) return value as ReasonName;
  throw new UsageError(`unknown revocation reason "${value}" (one of ${Object.keys(REASONS).join(", ")})`);
}
