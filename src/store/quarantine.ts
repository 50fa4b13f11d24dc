/** Quarantined identities. Changes bump the registry revision, so every server notices them within one poll. */
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
import { bumpRevision } from "./certificates.js";
import { ReadCounters } from "./read-counters.js";
import { RuleCounters } from "./rule-counters.js";

export interface Quarantine {
  identity: string;
  rule: string;
  reason: string;
  since: Date;
}

export class QuarantineRepository {
  constructor(private readonly db: Db) {}

  /** Quarantines an identity; false when it already was (the first reason stays). */
  async add(q: Quarantine): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const exists = await trx("quarantine").where({ identity: q.identity }).first("identity");
      if (exists) return false;
      await trx("quarantine").insert({
        identity: q.identity,
        rule: q.rule,
        reason: q.reason,
        since: q.since.getTime(),
      });
      await bumpRevision(trx);
      return true;
    });
  }

  /** Releases an identity and forgets its read counts; false when it was not quarantined. */
  async release(identity: string): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const n = await trx("quarantine").where({ identity }).delete();
      // Its read counts go too (every node's, as they are shared): else the next read would trip the same rule again.
      if (n > 0) await ReadCounters.forget(trx, identity);
      if (n > 0) await RuleCounters.forget(trx, identity);
      if (n > 0) await bumpRevision(trx);
      return n > 0;
    });
  }

  async list(): Promise<Quarantine[]> {
    const rows = (await this.db("quarantine").orderBy("since", "asc")) as {
      identity: string;
      rule: string;
      reason: string;
      since: number | string;
    }[];
    return rows.map((r) => ({
      identity: r.identity,
      rule: r.rule,
      reason: r.reason,
      since: new Date(toNumber(r.since)),
    }));
  }
}
