/** `audit verify` as a library call: the whole chain, every checkpoint signature, and the anchor outside the database. */
import type { AuditRepository } from "../store/audit.js";
import { verifyChain } from "./chain.js";
import type { VerifyResult } from "./chain.js";
import { checkpointVerifier, readAnchor, readAuditPublicKey } from "./audit-key.js";
import type { AuditPaths } from "./audit-key.js";

export async function verifyAudit(repo: AuditRepository, paths: AuditPaths): Promise<VerifyResult> {
  const entries = await repo.all();
  const checkpoints = await repo.checkpoints();
  const pub = readAuditPublicKey(paths);
  const anchor = readAnchor(paths);
  if (!pub && (checkpoints.length > 0 || anchor)) {
    return { ok: false, seq: checkpoints[0]?.seq ?? anchor?.seq ?? 0, problem: `the audit public key ${paths.pub} is missing, so the checkpoints cannot be checked` };
  }
  const check = pub ? checkpointVerifier(pub) : () => false;
  if (anchor && !check(anchor)) return { ok: false, seq: anchor.seq, problem: `the checkpoint anchor ${paths.anchor} has a bad signature` };
  return verifyChain(entries, checkpoints, check, anchor);
}
