/**
 * What one identity may have issued and revoked over the API, counted in the database (so every node and every
 * restart sees one count) and enforced atomically: the count and the write that uses the budget happen in one
 * transaction that holds a per-identity lock (PostgreSQL: a transaction-scoped advisory lock, also across nodes;
 * SQLite: the server's single connection already runs one transaction at a time).
 *
 * - Renewal requests (POST /v1/certificates): the request rows themselves are the count; a request is reserved (its
 *   row inserted) before anything is signed, so concurrent requests cannot all pass one check.
 * - Active certificates under auto-approval: active registry rows plus reservations still being issued ("issuing"
 *   rows younger than RESERVATION_MS; an older one can no longer be claimed). The claim (reservation -> issued, with the
 *   serial) runs in the certificate's insert transaction under the same identity lock, so a count never sees the
 *   certificate and its reservation both gone (or both there) half-way.
 *   A reservation left behind (a node died mid-issue, or its release failed) keeps counting toward the renewal budget.
 * - Self-revocations: revocations with reason "superseded" of the identity's certificates in the window.
 */
import type { Knex } from "knex";
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
import type { CertificateRequest } from "./certificate-requests.js";

export interface Budget {
  points: number;
  seconds: number;
}

/**
 * A reservation not turned into a certificate within this long (a node that died mid-issue) stops counting toward the
 * active cap, can no longer be claimed, and reads "failed" to its requester.
 */
export const RESERVATION_MS = 10 * 60_000;

export type Refusal =
  { refused: "limit"; retryAfterSeconds: number } | { refused: "pending" } | { refused: "cap"; active: number };

async function lockIdentity(trx: Knex.Transaction, scope: string, identity: string): Promise<void> {
  if (trx.client.config.client === "pg")
    await trx.raw("SELECT pg_advisory_xact_lock(hashtext(?))", [`certvault:${scope}:${identity}`]);
}

/** Seconds until the window holds fewer than `points` of `times` (ascending ms), or undefined if it already does. */
function overBudget(times: number[], limit: Budget, now: Date): number | undefined {
  if (limit.points <= 0 || times.length < limit.points) return undefined;
  const freesAt = (times[times.length - limit.points] as number) + limit.seconds * 1000;
  return Math.max(1, Math.ceil((freesAt - now.getTime()) / 1000));
}

async function timesSince(q: Knex.QueryBuilder, column: string): Promise<number[]> {
  return ((await q.orderBy(column, "asc").pluck(column)) as unknown[]).map(toNumber);
}

export class IssuanceBudget {
  constructor(
    private readonly db: Db,
    readonly limits: { renewal: Budget; selfRevocation: Budget; maxActive: number },
  ) {}

  /**
   * Inserts the request row if the identity is within its renewal budget, has no request waiting for an admin, and
   * (when `capActive`) holds fewer than maxActive active certificates counting reservations in flight.
   */
  async reserveRequest(
    row: Omit<CertificateRequest, "decidedAt">,
    now: Date,
    capActive: boolean,
  ): Promise<Refusal | null> {
    const { renewal, maxActive } = this.limits;
    return this.db.transaction(async (trx) => {
      await lockIdentity(trx, "issuance", row.identity);
      const since = now.getTime() - renewal.seconds * 1000;
      const recent = await timesSince(
        trx("certificate_requests").where({ identity: row.identity }).andWhere("created_at", ">", since),
        "created_at",
      );
      const wait = overBudget(recent, renewal, now);
      if (wait !== undefined) return { refused: "limit", retryAfterSeconds: wait };
      if (await trx("certificate_requests").where({ identity: row.identity, status: "pending" }).first("id"))
        return { refused: "pending" };
      if (capActive) {
        const active = await this.activeCount(trx, row.identity, now);
        if (active >= maxActive) return { refused: "cap", active };
      }
      await trx("certificate_requests").insert({
        id: row.id,
        identity: row.identity,
        csr: row.csr,
        requested_by: row.requestedBy,
        status: row.status,
        serial: row.serial,
        created_at: row.createdAt.getTime(),
        decided_at: null,
      });
      return null;
    });
  }

  /**
   * Active client certificates of the identity now, plus fresh reservations whose certificate is not in yet (also
   * "issued" rows without a serial: reservations made before the "issuing" status existed).
   */
  private async activeCount(trx: Knex.Transaction, identity: string, now: Date): Promise<number> {
    const t = now.getTime();
    const certs = await trx("certificates")
      .where({ identity, status: "active", profile: "client" })
      .andWhere("not_after", ">=", t)
      .andWhere("not_before", "<=", t)
      .count({ n: "*" })
      .first();
    const inFlight = await trx("certificate_requests")
      .where({ identity })
      .whereIn("status", ["issuing", "issued"])
      .whereNull("serial")
      .andWhere("created_at", ">", t - RESERVATION_MS)
      .count({ n: "*" })
      .first();
    return toNumber((certs as { n: unknown }).n) + toNumber((inFlight as { n: unknown }).n);
  }

  /**
   * For CertificateAuthority.issueFromCsr's guard (the certificate's insert transaction): turns the reservation `id`
   * "issued" with `serial`. False when it is not a fresh "issuing" reservation any more (released, or older than
   * RESERVATION_MS: it stopped counting toward the active cap, so it must not become a certificate either). Takes the
   * identity's lock, as reserveRequest does: on PostgreSQL a count between the certificate's insert and the claim
   * would otherwise see neither (two statements, each its own snapshot) and let one more certificate past the cap.
   */
  async claim(trx: Knex.Transaction, identity: string, id: string, serial: string, now: Date): Promise<boolean> {
    await lockIdentity(trx, "issuance", identity);
    const n = await trx("certificate_requests")
      .where({ id, identity, status: "issuing" })
      .whereNull("serial")
      .andWhere("created_at", ">", now.getTime() - RESERVATION_MS)
      .update({ status: "issued", serial, decided_at: now.getTime() });
    return n > 0;
  }

  /** A reservation whose issuance failed: removed, so that it counts against neither budget. */
  async release(id: string): Promise<void> {
    await this.db("certificate_requests").where({ id, status: "issuing" }).whereNull("serial").delete();
  }

  /**
   * For CertificateRepository.revoke's transaction: refuses (returns the wait) when the identity has used its
   * self-revocations in the window. Runs under the identity's lock, so concurrent revocations count one by one.
   */
  selfRevocationGuard(identity: string, now: Date): (trx: Knex.Transaction) => Promise<number | undefined> {
    const limit = this.limits.selfRevocation;
    return async (trx) => {
      await lockIdentity(trx, "revocation", identity);
      const since = now.getTime() - limit.seconds * 1000;
      const q = trx("certificates")
        .where({ identity, status: "revoked", revocation_reason: "superseded" })
        .andWhere("revoked_at", ">", since);
      return overBudget(await timesSince(q, "revoked_at"), limit, now);
    };
  }
}
