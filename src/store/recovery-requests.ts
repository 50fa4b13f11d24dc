/** Pending recovery requests: when one was made decides when the recovery may run (the waiting period). */
import type { Db } from "./db.js";
import { toNumber } from "./db.js";

export class RecoveryRequestRepository {
  constructor(private readonly db: Db) {}

  async request(identity: string, by: string, at: Date): Promise<void> {
    await this.db("recovery_requests")
      .insert({ identity, requested_by: by, requested_at: at.getTime() })
      .onConflict("identity")
      .ignore();
  }

  async get(identity: string): Promise<{ requestedBy: string; requestedAt: Date } | null> {
    const row = (await this.db("recovery_requests").where({ identity }).first()) as
      { requested_by: string; requested_at: number | string } | undefined;
    return row ? { requestedBy: row.requested_by, requestedAt: new Date(toNumber(row.requested_at)) } : null;
  }

  async clear(identity: string): Promise<void> {
    await this.db("recovery_requests").where({ identity }).delete();
  }
}
