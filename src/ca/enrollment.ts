/**
 * Enrollment tokens as operations over their table: issue (admin), check a presented token (enrollment server),
 * revoke, list, and write the expiry of unused tokens to the audit trail. The token itself is returned once by
 * `issueToken` and never stored, logged or audited; audit entries name the token's id.
 */
import type { AuditEvent } from "../audit/chain.js";
import type { OperationAudit } from "../audit/audited-operation.js";
import { ConflictError, NotFoundError } from "../errors/index.js";
import type { EnrollmentTokenRepository, EnrollmentTokenRow } from "../store/enrollment-tokens.js";
import { newToken, parseToken, tokenMatches, tokenStatus } from "./enrollment-token.js";
import type { TokenStatus } from "./enrollment-token.js";

export type AppendAudit = (event: AuditEvent) => Promise<void>;

export interface IssuedToken {
  id: string;
  identity: string;
  token: string;
  expiresAt: Date;
}

export async function issueToken(
  repo: EnrollmentTokenRepository,
  opts: { identity: string; ttlMs: number; actor: string; now: Date },
): Promise<IssuedToken> {
  const t = newToken(opts.identity);
  const expiresAt = new Date(opts.now.getTime() + opts.ttlMs);
  await repo.insert({
    id: t.id,
    identity: t.identity,
    tokenHash: t.hash,
    createdBy: opts.actor,
    createdAt: opts.now,
    expiresAt,
  });
  return { id: t.id, identity: t.identity, token: t.token, expiresAt };
}

/**
 * Revokes an unused token by its id, audited as `enroll.token.revoke` (attempt, then done or failed) by `audit`, which
 * names the admin. One code path for every admin front end (`certvault ca token --revoke` and the operator console).
 * NotFoundError for an unknown id, ConflictError for a token already used or revoked. Returns the row as it is now.
 */
export async function revokeToken(
  repo: EnrollmentTokenRepository,
  audit: OperationAudit,
  id: string,
  now: () => Date = () => new Date(),
): Promise<EnrollmentTokenRow | null> {
  await audit.run({ action: "enroll.token.revoke", detail: { tokenId: id } }, async () => {
    if (await repo.revoke(id, now())) return;
    const row = await repo.get(id);
    if (!row) throw new NotFoundError(`no enrollment token with id ${id}`);
    throw new ConflictError(
      row.usedAt
        ? `token ${id} was already used (certificate ${row.serial ?? "?"}); revoke that certificate instead`
        : `token ${id} is already revoked`,
    );
  });
  return repo.get(id);
}

/** Why a presented token is refused (for the audit trail and the log; the caller only ever sees invalid_token). */
export type RefusalReason = "malformed" | "unknown" | "mismatch" | "used" | "revoked" | "expired";

export type TokenCheck =
  | { ok: true; row: EnrollmentTokenRow; hash: string }
  | { ok: false; reason: RefusalReason; row?: EnrollmentTokenRow; claimedId?: string };

/** Looks a presented token up by its id and compares its hash in constant time; says why it is refused. */
export async function checkToken(repo: EnrollmentTokenRepository, presented: string, now: Date): Promise<TokenCheck> {
  const parsed = parseToken(presented);
  if (!parsed) return { ok: false, reason: "malformed" };
  const row = await repo.get(parsed.id);
  if (!row) return { ok: false, reason: "unknown", claimedId: parsed.id };
  // A wrong secret says nothing about the row: it is refused before its state is looked at.
  if (!tokenMatches(parsed.token, row.tokenHash)) return { ok: false, reason: "mismatch", claimedId: parsed.id };
  const status = tokenStatus(row, now);
  if (status !== "active") return { ok: false, reason: status, row };
  return { ok: true, row, hash: row.tokenHash };
}

export interface TokenView {
  id: string;
  identity: string;
  createdAt: string;
  expiresAt: string;
  status: TokenStatus;
  usedAt: string | null;
  serial: string | null;
  revokedAt: string | null;
}

export function describeToken(t: EnrollmentTokenRow, now: Date): TokenView {
  return {
    id: t.id,
    identity: t.identity,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    status: tokenStatus(t, now),
    usedAt: t.usedAt?.toISOString() ?? null,
    serial: t.serial,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

/**
 * Writes `enroll.token.expired` for every token that expired unused and is not yet in the audit trail. Run by the
 * server (at start, every minute, and when an expired token is presented) and by `ca token`; returns how many.
 */
export async function auditExpiredTokens(
  repo: EnrollmentTokenRepository,
  append: AppendAudit,
  actor: string,
  now: Date,
): Promise<number> {
  const expired = await repo.claimUnauditedExpiries(now);
  for (const t of expired) {
    try {
      await append({
        time: now,
        actor,
        action: "enroll.token.expired",
        status: 0,
        detail: { tokenId: t.id, identity: t.identity, expiresAt: t.expiresAt.toISOString() },
      });
    } catch (err) {
      // Not written: leave it for the next sweep.
      await repo.unmarkExpiryAudited(t.id).catch(() => undefined);
      throw err;
    }
  }
  return expired.length;
}
