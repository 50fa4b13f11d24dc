/**
 * The `enrollment_tokens` table (migration 009): one row per token, holding its SHA-256 and never the token. A token
 * is claimed by one conditional UPDATE, so two enrollments racing with the same token cannot both win.
 */
import type { Db } from "./db.js";
import { toNumber } from "./db.js";

export interface EnrollmentTokenRow {
  id: string;
  identity: string;
  tokenHash: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  serial: string | null;
  revokedAt: Date | null;
  expiryAuditedAt: Date | null;
}

interface Row {
  id: string;
  identity: string;
  token_hash: string;
  created_by: string;
  created_at: number | string;
  expires_at: number | string;
  used_at: number | string | null;
  serial: string | null;
  revoked_at: number | string | null;
  expiry_audited_at: number | string | null;
}

const date = (v: number | string | null): Date | null => (v === null ? null : new Date(toNumber(v)));

const fromRow = (r: Row): EnrollmentTokenRow => ({
  id: r.id,
  identity: r.identity,
  tokenHash: r.token_hash,
  createdBy: r.created_by,
  createdAt: new Date(toNumber(r.created_at)),
  expiresAt: new Date(toNumber(r.expires_at)),
  usedAt: date(r.used_at),
  serial: r.serial,
  revokedAt: date(r.revoked_at),
  expiryAuditedAt: date(r.expiry_audited_at),
});

const TABLE = "enrollment_tokens";

export class EnrollmentTokenRepository {
  constructor(private readonly db: Db) {}

  async insert(t: {
    id: string;
    identity: string;
    tokenHash: string;
    createdBy: string;
    createdAt: Date;
    expiresAt: Date;
  }): Promise<void> {
    await this.db(TABLE).insert({
      id: t.id,
      identity: t.identity,
      token_hash: t.tokenHash,
      created_by: t.createdBy,
      created_at: t.createdAt.getTime(),
      expires_at: t.expiresAt.getTime(),
    });
  }

  async get(id: string): Promise<EnrollmentTokenRow | null> {
    const row = (await this.db<Row>(TABLE).where({ id }).first()) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  async list(): Promise<EnrollmentTokenRow[]> {
    return ((await this.db<Row>(TABLE).orderBy("created_at", "asc").orderBy("id", "asc")) as Row[]).map(fromRow);
  }

  /** Marks the token used, atomically, if it is still unused, unrevoked and unexpired at `now`; false otherwise. */
  async claim(id: string, tokenHash: string, now: Date): Promise<boolean> {
    const n = await this.db(TABLE)
      .where({ id, token_hash: tokenHash })
      .whereNull("used_at")
      .whereNull("revoked_at")
      .where("expires_at", ">", now.getTime())
      .update({ used_at: now.getTime() });
    return n === 1;
  }

  /** Gives a claimed token back when nothing was issued with it (the CA failed after the claim). */
  async release(id: string, claimedAt: Date): Promise<void> {
    await this.db(TABLE).where({ id, used_at: claimedAt.getTime() }).whereNull("serial").update({ used_at: null });
  }

  async setSerial(id: string, serial: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ serial });
  }

  /** Revokes an unused, unrevoked token; false when there is no such token. */
  async revoke(id: string, now: Date): Promise<boolean> {
    const n = await this.db(TABLE)
      .where({ id })
      .whereNull("used_at")
      .whereNull("revoked_at")
      .update({ revoked_at: now.getTime() });
    return n === 1;
  }

  /**
   * Tokens that expired unused and whose expiry is not yet in the audit trail, each claimed for the caller (one
   * conditional UPDATE per row, so two sweepers never both report one).
   */
  async claimUnauditedExpiries(now: Date): Promise<EnrollmentTokenRow[]> {
    const rows = (await this.db<Row>(TABLE)
      .where("expires_at", "<=", now.getTime())
      .whereNull("used_at")
      .whereNull("revoked_at")
      .whereNull("expiry_audited_at")) as Row[];
    const claimed: EnrollmentTokenRow[] = [];
    for (const r of rows) {
      const n = await this.db(TABLE)
        .where({ id: r.id })
        .whereNull("expiry_audited_at")
        .update({ expiry_audited_at: now.getTime() });
      if (n === 1) claimed.push(fromRow(r));
    }
    return claimed;
  }

  async unmarkExpiryAudited(id: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ expiry_audited_at: null });
  }
}
