/**
 * Releasing a quarantined identity: one code path for `certvault quarantine release` and the operator console. The
 * release is audited (attempt, then done or failed) under the admin the caller's audit trail names; servers notice it
 * through the registry revision the repository bumps (and forget the identity's anomaly counts then).
 */
import type { OperationAudit } from "../audit/audited-operation.js";
import type { QuarantineRepository } from "../store/quarantine.js";

/** true when the identity was quarantined and is released now; false when it was not quarantined. */
export function releaseQuarantine(
  repo: Pick<QuarantineRepository, "release">,
  audit: OperationAudit,
  identity: string,
): Promise<boolean> {
  return audit.run({ action: "quarantine.release", detail: { identity } }, () => repo.release(identity));
}
