/**
 * Administrative operations leave audit entries: an attempt before the operation (if it cannot be written, the
 * operation is refused) and the outcome after it. The actor is the operating-system user running the command.
 */
import { userInfo } from "node:os";
import { AuditUnavailableError, asCertvaultError } from "../../errors/index.js";
import { AuditRepository } from "../../store/audit.js";
import type { Db } from "../../store/db.js";
import type { Io } from "../cli.js";

type Detail = Record<string, string | number | boolean>;

function actor(io: Io): string {
  let user = io.env.USER ?? "unknown";
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry: keep $USER */
  }
  return `cli:${user}`;
}

export async function recordAdminEvent<T>(db: Db, io: Io, what: { action: string; detail?: Detail }, op: () => Promise<T>, outcome?: (result: T) => Detail): Promise<T> {
  const repo = new AuditRepository(db);
  const base = { actor: actor(io), action: what.action, status: 0 };
  try {
    await repo.append([{ ...base, time: new Date(), detail: { ...what.detail, phase: "attempt" } }]);
  } catch {
    throw new AuditUnavailableError(`the audit log cannot be written, so "${what.action}" was not carried out`);
  }
  let result: T;
  try {
    result = await op();
  } catch (err) {
    await repo.append([{ ...base, time: new Date(), status: 1, detail: { ...what.detail, phase: "failed", code: asCertvaultError(err).code } }]).catch(() => undefined);
    throw err;
  }
  await repo.append([{ ...base, time: new Date(), detail: { ...what.detail, ...outcome?.(result), phase: "done" } }]);
  return result;
}
