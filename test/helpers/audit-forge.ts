/**
 * What a database writer can do to the audit trail with nothing but write access: remove an entry, re-link every
 * entry after it with the public, unkeyed link function (fresh hashes), append a filler so the count matches again,
 * and delete every checkpoint row. No key, no file outside the database is touched.
 */
import { cpSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../../src/store/db.js";
import { AuditRepository } from "../../src/store/audit.js";
import type { AuditEvent } from "../../src/audit/chain.js";

export async function forgeAuditChain(db: Db, removeSeq: number): Promise<{ before: number; after: number }> {
  const repo = new AuditRepository(db);
  const all = await repo.all();
  const kept: AuditEvent[] = all
    .filter((e) => e.seq !== removeSeq)
    .map(({ seq: _s, prevHash: _p, hash: _h, ...e }) => e);
  const last = kept[kept.length - 1] as AuditEvent;
  kept.push({ ...last, time: new Date(last.time.getTime() + 1), action: "me", status: 200, requestId: "filler" });
  await db.transaction(async (trx) => {
    await trx("audit_checkpoints").delete();
    await trx("audit_entries").delete();
  });
  await repo.append(kept);
  return { before: all.length, after: kept.length };
}

/** A HOME for a verifier or a node that holds the CA and audit keys as `home` does, but none of its checkpoint files. */
export function homeWithoutCheckpoints(
  home: string,
  to: string,
  parts: readonly string[] = ["ca", "server", "audit/audit.key", "audit/audit.pub"],
): string {
  mkdirSync(join(to, "audit"), { recursive: true, mode: 0o700 });
  for (const p of parts) cpSync(join(home, p), join(to, p), { recursive: true });
  return to;
}
