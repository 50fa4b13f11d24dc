/** The CLI's audit identity: the operating-system user running the command. */
import { AuditRepository } from "../../store/audit.js";
import type { Db } from "../../store/db.js";
import { operationAudit } from "../../audit/audited-operation.js";
import type { AuditDetail, OperationAudit } from "../../audit/audited-operation.js";
import { adminUser } from "../../config/commands.js";
import type { Io } from "../command-io.js";

export function cliActor(io: Io): string {
  return `cli:${adminUser(io.env)}`;
}

export function cliAudit(db: Db, io: Io): OperationAudit {
  return operationAudit(new AuditRepository(db), cliActor(io), () => io.now());
}

export function recordAdminEvent<T>(
  db: Db,
  io: Io,
  what: { action: string; detail?: AuditDetail },
  op: () => Promise<T>,
  outcome?: (result: T) => AuditDetail,
): Promise<T> {
  return cliAudit(db, io).run(what, op, outcome);
}
