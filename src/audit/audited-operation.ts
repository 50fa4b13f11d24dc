/**
 * Operations that must leave a trace (CA issue, revoke, CRL; quarantine release): an attempt entry before the
 * operation (if it cannot be written, the operation is refused), then `done` with the outcome or `failed` with the
 * error code. Used by the CA itself, so the CLI, the server and library users are all audited the same way.
 */
import { AuditUnavailableError, asCertvaultError } from "../errors/index.js";
import type { AuditRepository } from "../store/audit.js";

export type AuditDetail = Record<string, string | number | boolean>;

export interface OperationAudit {
  run<T>(
    what: { action: string; detail?: AuditDetail },
    op: () => Promise<T>,
    outcome?: (result: T) => AuditDetail,
  ): Promise<T>;
}

export function operationAudit(
  repo: AuditRepository,
  actor: string,
  now: () => Date = () => new Date(),
): OperationAudit {
  return {
    async run(what, op, outcome) {
      const base = { actor, action: what.action, status: 0 };
      try {
        await repo.append([{ ...base, time: now(), detail: { ...what.detail, phase: "attempt" } }]);
      } catch {
        throw new AuditUnavailableError(`the audit log cannot be written, so "${what.action}" was not carried out`);
      }
      let result;
      try {
        result = await op();
      } catch (err) {
        await repo
          .append([
            {
              ...base,
              time: now(),
              status: 1,
              detail: { ...what.detail, phase: "failed", code: asCertvaultError(err).code },
            },
          ])
          .catch(() => undefined);
        throw err;
      }
      try {
        await repo.append([{ ...base, time: now(), detail: { ...what.detail, ...outcome?.(result), phase: "done" } }]);
      } catch {
        throw new AuditUnavailableError(
          `"${what.action}" was carried out, but its outcome could not be written to the audit log`,
        );
      }
      return result;
    },
  };
}
