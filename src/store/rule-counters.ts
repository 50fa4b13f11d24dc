/**
 * The window counts of the anomaly rules other than the read rules (volume, id_guessing, list_walk, stale_access,
 * many_sources), kept in the database so that every node and every restart sees one count. The in-process side
 * (batching, the local view, the rules) is anomaly/shared-detector.ts; this file only stores. Two tables:
 *
 * - rule_counts (identity, counter, bucket, n): events per bucket. A counter's window is its last 10 buckets, the
 *   current one included (it covers between 9/10 and all of the rule's window), as in store/read-counters.ts.
 *   volume_w keeps whole volume windows for 20 windows: the identity's baseline for the volume rule.
 * - rule_marks (identity, counter, mark, at): for the distinct counts (stale records, source addresses). A mark
 *   counts again only once it is a window old, so each window counts a record or an address once, whichever node
 *   saw it.
 *
 * Bucket boundaries follow each node's (injected) clock: nodes are assumed to agree within a bucket (NTP).
 */
import { createHash } from "node:crypto";
import type { Knex } from "knex";
import type { Db } from "./db.js";
import { toNumber } from "./db.js";
import { sqliteTransaction } from "./sqlite.js";
import type { Thresholds } from "../anomaly/rules.js";

export type CounterName = "volume" | "volume_w" | "not_found" | "pages" | "stale" | "sources";
export const COUNTERS: readonly CounterName[] = ["volume", "volume_w", "not_found", "pages", "stale", "sources"];

/** Buckets per window of the rule counters; volume_w keeps BASELINE_WINDOWS whole windows. */
export const WINDOW_BUCKETS = 10;
export const BASELINE_WINDOWS = 20;

export interface CounterSpec {
  bucketMs: number;
  /** Buckets read back and kept: the current one and the `keep - 1` before it. */
  keep: number;
  /** The rule's window, for the marks. */
  windowMs: number;
}

export function counterSpecs(t: Thresholds): Record<CounterName, CounterSpec> {
  const of = (windowMs: number): CounterSpec => ({
    bucketMs: Math.max(1, Math.floor(windowMs / WINDOW_BUCKETS)),
    keep: WINDOW_BUCKETS,
    windowMs,
  });
  return {
    volume: of(t.volumeWindowMs),
    volume_w: { bucketMs: t.volumeWindowMs, keep: BASELINE_WINDOWS + 1, windowMs: t.volumeWindowMs },
    not_found: of(t.notFoundWindowMs),
    pages: of(t.windowMs),
    stale: of(t.windowMs),
    sources: of(t.sourcesWindowMs),
  };
}

/** Events to add: identity -> counter -> bucket -> n. */
export type CountBatch = Map<string, Map<CounterName, Map<number, number>>>;
/** Buckets read back: the same shape, every counter's kept range for each identity of the batch. */
export type CountView = CountBatch;

/** Identities per transaction: keeps the bindings far under SQLite's limit. */
const CHUNK = 50;

interface CountRow {
  identity: string;
  counter: string;
  bucket: unknown;
  n: unknown;
}

/** The upsert of a chunk's events: the same SQL on SQLite and PostgreSQL. */
function upsertOf(batch: CountBatch, identities: readonly string[]): { upsert: string; values: (string | number)[] } {
  const values: (string | number)[] = [];
  for (const identity of identities)
    for (const [counter, buckets] of batch.get(identity) ?? [])
      for (const [bucket, n] of buckets) values.push(identity, counter, bucket, n);
  const upsert = `INSERT INTO rule_counts (identity, counter, bucket, n) VALUES ${Array(values.length / 4)
    .fill("(?, ?, ?, ?)")
    .join(", ")}
         ON CONFLICT (identity, counter, bucket) DO UPDATE SET n = rule_counts.n + excluded.n`;
  return { upsert, values };
}

/** Every counter row of `n` identities (SQLite's prepared path). */
function selectOf(n: number): string {
  return `SELECT identity, counter, bucket, n FROM rule_counts WHERE identity IN (${Array(n).fill("?").join(", ")})`;
}

export class RuleCounters {
  readonly specs: Record<CounterName, CounterSpec>;
  constructor(
    private readonly db: Db,
    t: Thresholds,
  ) {
    this.specs = counterSpecs(t);
  }

  /**
   * Adds the batch and reads back every counter of each identity in it (its kept buckets, own additions included).
   * One transaction per 50 identities (an upsert and a select): the upsert locks the current bucket's row, so
   * concurrent flushes from any node see each other in turn. Measured cost: see anomaly/shared-detector.ts.
   */
  async add(batch: CountBatch, now: number): Promise<CountView> {
    const identities = [...batch.keys()];
    const view: CountView = new Map(identities.map((id) => [id, new Map()]));
    for (let i = 0; i < identities.length; i += CHUNK) {
      const chunk = identities.slice(i, i + CHUNK);
      const { upsert, values } = upsertOf(batch, chunk);
      // At once on SQLite's idle connection (store/sqlite.ts sqliteTransaction), else through knex, which waits.
      const rows =
        sqliteTransaction(this.db, (statement) => {
          if (values.length > 0) statement("run", upsert, values);
          return statement("all", selectOf(chunk.length), chunk) as CountRow[];
        }) ??
        (await this.db.transaction(async (trx) => {
          if (values.length > 0) await trx.raw(upsert, values);
          return (await trx("rule_counts")
            .select("identity", "counter", "bucket", "n")
            .whereIn("identity", chunk)) as CountRow[];
        }));
      for (const r of rows) {
        const counter = r.counter as CounterName;
        const spec = this.specs[counter];
        const bucket = toNumber(r.bucket);
        // Rows the sweep has not reached yet are past the kept range: not part of the view.
        if (!spec || bucket < Math.floor(now / spec.bucketMs) - spec.keep + 1) continue;
        const counters = view.get(r.identity) as Map<CounterName, Map<number, number>>;
        let buckets = counters.get(counter);
        if (!buckets) counters.set(counter, (buckets = new Map()));
        buckets.set(bucket, toNumber(r.n));
      }
    }
    return view;
  }

  /**
   * Marks `mark` as seen by `identity` at `now` for a distinct counter; true when it counts (it was not marked
   * within the counter's window, on any node). One statement.
   */
  async mark(identity: string, counter: "stale" | "sources", mark: string, now: number): Promise<number> {
    const key = mark.length <= 128 ? mark : createHash("sha256").update(mark).digest("hex");
    const rows = (await this.db.raw(
      `INSERT INTO rule_marks (identity, counter, mark, at) VALUES (?, ?, ?, ?)
       ON CONFLICT (identity, counter, mark) DO UPDATE SET
         at = CASE WHEN rule_marks.at <= ? THEN excluded.at ELSE rule_marks.at END
       RETURNING at`,
      [identity, counter, key, now, now - this.specs[counter].windowMs],
    )) as { at: unknown }[] | { rows: { at: unknown }[] };
    const row = Array.isArray(rows) ? rows[0] : rows.rows[0];
    return toNumber(row?.at ?? now);
  }

  /** Forgets an identity's counts and marks (a release from quarantine: see store/quarantine.ts). */
  static async forget(trx: Knex | Knex.Transaction, identity: string): Promise<void> {
    await trx("rule_counts").where({ identity }).delete();
    await trx("rule_marks").where({ identity }).delete();
  }

  /** Drops buckets and marks past every window; every node calls it now and then (the tables stay bounded). */
  async sweep(now: number): Promise<void> {
    for (const counter of COUNTERS) {
      const s = this.specs[counter];
      await this.db("rule_counts")
        .where({ counter })
        .andWhere("bucket", "<", Math.floor(now / s.bucketMs) - s.keep + 1)
        .delete();
    }
    for (const counter of ["stale", "sources"] as const)
      await this.db("rule_marks")
        .where({ counter })
        .andWhere("at", "<=", now - this.specs[counter].windowMs)
        .delete();
  }
}
