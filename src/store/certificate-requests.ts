/**
 * Certificate requests made over the API (renewal): pending until an admin decides; under the auto policy the row is
 * a reservation ("issuing", no serial) that turns "issued" with its serial only in the transaction that stores the
 * certificate (store/issuance-budget.ts claim). A request never reads "issued" without a certificate.
 */
import type { Knex } from "knex";
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
import { RESERVATION_MS } from "./issuance-budget.js";

export type RequestStatus = "pending" | "issuing" | "issued" | "rejected";
/** What a request's status says to anyone who reads it (the API, the console, `certvault requests list`). */
export type ShownStatus = RequestStatus | "failed";

/**
 * The one rule for showing a request: a reservation (an "issuing" row, or an "issued" one without a serial, from
 * before "issuing" existed) older than RESERVATION_MS failed (its node died, or its release failed) and can no longer
 * be claimed; everything else as stored.
 */
export function shownStatus(r: Pick<CertificateRequest, "status" | "serial" | "createdAt">, now: Date): ShownStatus {
  if (r.status === "issuing" || (r.status === "issued" && !r.serial))
    return r.createdAt.getTime() > now.getTime() - RESERVATION_MS ? "issuing" : "failed";
  return r.status;
}

export interface CertificateRequest {
  id: string;
  identity: string;
  csr: string;
  requestedBy: string;
  status: RequestStatus;
  serial: string | null;
  createdAt: Date;
  decidedAt: Date | null;
}

interface Row {
  id: string;
  identity: string;
  csr: string;
  requested_by: string;
  status: RequestStatus;
  serial: string | null;
  created_at: number | string;
  decided_at: number | string | null;
}

const fromRow = (r: Row): CertificateRequest => ({
  id: r.id,
  identity: r.identity,
  csr: r.csr,
  requestedBy: r.requested_by,
  status: r.status,
  serial: r.serial,
  createdAt: new Date(toNumber(r.created_at)),
  decidedAt: r.decided_at === null ? null : new Date(toNumber(r.decided_at)),
});

export class CertificateRequestRepository {
  constructor(private readonly db: Db) {}

  async insert(r: Omit<CertificateRequest, "decidedAt">): Promise<void> {
    await this.db("certificate_requests").insert({
      id: r.id,
      identity: r.identity,
      csr: r.csr,
      requested_by: r.requestedBy,
      status: r.status,
      serial: r.serial,
      created_at: r.createdAt.getTime(),
      decided_at: null,
    });
  }

  async get(id: string): Promise<CertificateRequest | null> {
    const row = (await this.db<Row>("certificate_requests").where({ id }).first()) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /** The identity's own request: another identity's id answers like a missing one. */
  async getFor(identity: string, id: string): Promise<CertificateRequest | null> {
    const row = (await this.db<Row>("certificate_requests").where({ id, identity }).first()) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  async pendingFor(identity: string): Promise<CertificateRequest | null> {
    const row = (await this.db<Row>("certificate_requests").where({ identity, status: "pending" }).first()) as
      Row | undefined;
    return row ? fromRow(row) : null;
  }

  async list(status?: RequestStatus): Promise<CertificateRequest[]> {
    const q = this.db<Row>("certificate_requests").orderBy("created_at", "asc");
    if (status) void q.where({ status });
    return ((await q) as Row[]).map(fromRow);
  }

  /**
   * Moves a pending request to its decision; false when it was not pending any more (someone decided first). In `on`
   * (a transaction) the row stays locked until it ends: a concurrent claim waits, then finds it decided.
   */
  async decide(
    id: string,
    status: "issued" | "rejected",
    serial: string | null,
    at: Date,
    on: Db | Knex.Transaction = this.db,
  ): Promise<boolean> {
    const n = await on("certificate_requests")
      .where({ id, status: "pending" })
      .update({ status, serial, decided_at: at.getTime() });
    return n > 0;
  }
}
