/**
 * Budgets reserved at admission (issue 16). A record read counts toward the read rules (bulk_read, daily_reads) once
 * the record is found and is the caller's to read, and before a byte of it is sent; the count lives in the database
 * (store/read-counters.ts), shared by every node and kept across restarts. A read that reaches a high-severity
 * threshold is refused (403 identity_quarantined) and quarantines the identity, so a concurrent burst gets at most
 * threshold - 1 distinct records, whatever the concurrency and however many nodes serve it.
 *
 * The step that asks before a record is sent is read-budget.ts.
 */
import { readFindings } from "../../anomaly/read-rules.js";
import type { Finding, Thresholds } from "../../anomaly/rules.js";
import type { ReadCounters } from "../../store/read-counters.js";

export interface ReadVerdict {
  /** Findings to log and alert on (each reported once per node, not on every later read). */
  report: Finding[];
  /** A high-severity finding: refuse this read. */
  refuse: boolean;
}

/** Mean daily reads per identity, recomputed once per identity per day window (history changes that slowly). */
const BASELINE_CACHE_MAX = 10_000;
/** Reads this node counted, still inside both windows: ~150 bytes each, so at most ~8 MB. */
const COUNTED_CACHE_MAX = 50_000;

export class ReadAdmission {
  private readonly baselines = new Map<string, { day: number; value: number }>();
  /**
   * The fast path: a re-read of a record this node counted within both windows cannot count again (a window's mark
   * only moves once it has expired), so it skips the database. Only re-reads: every new record still goes through
   * the shared count, so the cache adds no overshoot.
   */
  private readonly counted = new Map<string, { short: number; day: number }>();

  constructor(
    private readonly counters: ReadCounters,
    private readonly t: Thresholds,
  ) {}

  /**
   * Counts one read and judges it. `quarantined`: this node already refuses the identity (a high finding is then
   * not reported again; requests that passed the gate before it closed are refused here).
   */
  async admit(identity: string, recordId: string, now: number, quarantined: boolean): Promise<ReadVerdict> {
    const key = `${identity}\n${recordId}`;
    const known = this.counted.get(key);
    if (known && now - known.short < this.t.windowMs && now - known.day < this.t.dayWindowMs)
      return { report: [], refuse: false };
    const counted = await this.counters.count(identity, recordId, now);
    this.remember(key, known, counted, now);
    if (counted.window === null && counted.day === null) return { report: [], refuse: false };
    const dayBaseline = counted.day === null ? 0 : await this.baseline(identity, now);
    const findings = readFindings({ ...counted, dayBaseline }, this.t);
    const refuse = findings.some((f) => f.severity === "high");
    // Medium findings are reported when the count reaches the threshold (exactly one read sees each count).
    const report = findings.filter((f) => (f.severity === "high" ? !quarantined : f.value === f.threshold));
    return { report, refuse };
  }

  /** Forgets the cached history of an identity (after an admin releases it: its counts are gone too). */
  forget(identity: string): void {
    this.baselines.delete(identity);
    for (const key of this.counted.keys()) if (key.startsWith(`${identity}\n`)) this.counted.delete(key);
  }

  private remember(
    key: string,
    known: { short: number; day: number } | undefined,
    counted: { window: number | null; day: number | null },
    now: number,
  ): void {
    const short = counted.window !== null ? now : known?.short;
    const day = counted.day !== null ? now : known?.day;
    this.counted.delete(key);
    if (short === undefined || day === undefined) return;
    this.counted.set(key, { short, day });
    if (this.counted.size > COUNTED_CACHE_MAX) this.counted.delete(this.counted.keys().next().value as string);
  }

  private async baseline(identity: string, now: number): Promise<number> {
    const day = Math.floor(now / this.t.dayWindowMs);
    const cached = this.baselines.get(identity);
    if (cached?.day === day) return cached.value;
    const value = await this.counters.dayBaseline(identity, now);
    if (this.baselines.size >= BASELINE_CACHE_MAX) this.baselines.clear();
    this.baselines.set(identity, { day, value });
    return value;
  }
}
