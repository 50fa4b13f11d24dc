/**
 * The window rules (volume, id_guessing, list_walk, stale_access, many_sources) over counts shared by every node
 * and kept across restarts (store/rule-counters.ts), with an in-process fast path. bulk_read and daily_reads are
 * judged at admission (server/middleware/admission.ts); anomaly/detector.ts is the single-process reference of these rules.
 *
 * Fast path: each node adds its events to a local batch and judges every request on its own view, the database's
 * counts as of its last flush plus its own events since (so on one node the count is exact). A batch is flushed
 * (one transaction: upsert, then read back every counter of the identity) in the request whose event brings a
 * counter's pending events to K = ceil(threshold / 20) (at least 1), every FLUSH_MS for whatever is pending, and on
 * close. Distinct counts (stale records, source addresses) go to the database the first time this node sees the
 * record or address in the window (rule_marks), then wait for the batch like the rest.
 *
 * Overshoot bound (docs/operations.md, "Where each rule counts"): every flush reads the exact committed total, and
 * on each node at most K - 1 events of a counter are unsent, so a rule fires (in the request that flushes, or at
 * the timer flush, which reports it too) before the identity's true count passes threshold + N x (K - 1) on N
 * nodes, for requests sent one after another; requests of the identity in flight at that moment (at most the
 * per-node concurrency cap each) come on top. Defaults: K = 1 for id_guessing, list_walk and many_sources (margin
 * 0), 2 for stale_access (N), 30 for volume (29 N, about 5% of 600 per node). A node that dies without its final
 * flush loses at most K - 1 events per counter plus its last FLUSH_MS; a graceful stop loses none.
 *
 * Cost per request, measured with bench/shared-rules.ts (20,000 requests of 50 identities one after another: reads,
 * 1% continued list pages, 0.2% 404s) on this 2-core machine while the soak and other suites ran (load average ~20,
 * so every figure here is several times a quiet machine's): the in-memory Detector (before) ~61 us; the
 * SharedDetector ~145 us on SQLite and ~350 us on PostgreSQL, i.e. +85 us and +290 us. Nearly all of it is the
 * flushes: ~3.7 per 100 requests (the volume batch every 30th request of an identity, each 404 and continued page,
 * the 1 s timer), ~3.5 ms each on SQLite and ~10 ms on PostgreSQL (a transaction: BEGIN, upsert, select, COMMIT) at
 * that load. Requests that flush nothing pay only the in-memory bookkeeping.
 */
import { evaluateStats } from "./rules.js";
import type { AccessEvent, Finding, Thresholds, WindowStats } from "./rules.js";
import { bump, confirm, newView, restorePending, series, takePending, total } from "./counter-view.js";
import type { Buckets, IdentityView } from "./counter-view.js";
import { BASELINE_WINDOWS } from "../store/rule-counters.js";
import type { CountBatch, CounterName, CountView, RuleCounters } from "../store/rule-counters.js";

export const FLUSH_MS = 1000;
/** Distinct marks cached per identity (a miss costs one upsert that does not count again). */
const MARKS_MAX = 256;

export type RuleStore = Pick<RuleCounters, "specs" | "add" | "mark">;

export interface SharedDetectorOptions {
  now: () => number;
  /** Findings of a timer flush (no request to answer them in): report as a request's would be. */
  onFindings: (identity: string, serial: string | null, findings: Finding[], time: number) => void;
  onError: (err: unknown) => void;
  flushMs?: number;
}

export class SharedDetector {
  private readonly views = new Map<string, IdentityView>();
  private readonly k: Record<CounterName, number>;
  /** One flush at a time per node: each replaces the node's copy of the counts with a newer one. */
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: RuleStore,
    private readonly t: Thresholds,
    private readonly o: SharedDetectorOptions,
  ) {
    const k = (threshold: number): number => Math.max(1, Math.ceil(threshold / 20));
    this.k = {
      volume: k(t.volumeMin),
      volume_w: Infinity,
      not_found: k(t.notFound),
      pages: k(t.listPages),
      stale: k(t.staleRecords),
      sources: k(t.sources),
    };
    this.timer = setInterval(() => void this.flushAll(), o.flushMs ?? FLUSH_MS);
    this.timer.unref();
  }

  /** Counts one request's outcome; the findings that are new on this node. Never throws (errors go to onError). */
  async observe(identity: string, serial: string | null, e: AccessEvent): Promise<Finding[]> {
    const v = this.viewOf(identity, e.time);
    v.last = e.time;
    v.serial = serial;
    this.count(v, "volume", e.time);
    this.count(v, "volume_w", e.time);
    if (e.status === 404) this.count(v, "not_found", e.time);
    if (e.action === "list" && e.list?.cursor) this.count(v, "pages", e.time);
    if (e.action === "get" && e.recordId && (e.recordAgeMs ?? 0) >= this.t.staleAgeMs)
      await this.distinct(identity, v, "stale", e.recordId, e.time);
    await this.distinct(identity, v, "sources", e.source, e.time);
    if ((Object.keys(this.k) as CounterName[]).some((c) => v.counters[c].pendingN >= this.k[c]))
      await this.flush([identity]);
    return this.judge(v, e.time);
  }

  /** Forgets an identity (after an admin releases it: its stored counts are deleted in the same transaction). */
  reset(identity: string): void {
    this.views.delete(identity);
  }

  /** Drops identities idle for longer than every window with nothing left to send; call now and then. */
  sweep(now: number): void {
    const t = this.t;
    const longest = Math.max(t.windowMs, t.volumeWindowMs * (BASELINE_WINDOWS + 1), t.sourcesWindowMs);
    for (const [id, v] of this.views)
      if (now - v.last > longest && Object.values(v.counters).every((c) => c.unconfirmed.size === 0))
        this.views.delete(id);
  }

  /** Stops the timer and sends what is pending (a graceful restart keeps every count). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushAll();
  }

  private viewOf(identity: string, now: number): IdentityView {
    let v = this.views.get(identity);
    if (!v) this.views.set(identity, (v = newView(now)));
    return v;
  }

  private count(v: IdentityView, c: CounterName, time: number): void {
    bump(v.counters[c], this.store.specs[c], time);
  }

  private async distinct(identity: string, v: IdentityView, c: "stale" | "sources", key: string, now: number) {
    const cacheKey = `${c}\n${key}`;
    const seen = v.marks.get(cacheKey);
    if (seen !== undefined && now - seen < this.store.specs[c].windowMs) return;
    let at = now;
    try {
      at = await this.store.mark(identity, c, key, now);
    } catch (err) {
      this.o.onError(err); // fail closed: counted here (and sent with the batch) as if it were new
    }
    v.marks.delete(cacheKey);
    v.marks.set(cacheKey, at);
    if (v.marks.size > MARKS_MAX) v.marks.delete(v.marks.keys().next().value as string);
    if (at === now) this.count(v, c, now);
  }

  private flush(identities: string[]): Promise<void> {
    const run = this.chain.then(() => this.flushNow(identities));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async flushAll(): Promise<void> {
    const due = [...this.views].filter(([, v]) => Object.values(v.counters).some((c) => c.pendingN > 0));
    if (due.length === 0) return;
    await this.flush(due.map(([id]) => id));
    const now = this.o.now();
    for (const [id, v] of due) {
      const findings = this.judge(v, now);
      if (findings.length > 0) this.o.onFindings(id, v.serial, findings, now);
    }
  }

  private async flushNow(identities: string[]): Promise<void> {
    const batch: CountBatch = new Map();
    for (const id of identities) {
      const v = this.views.get(id);
      const sent = v && takePending(v);
      if (sent) batch.set(id, sent);
    }
    if (batch.size === 0) return;
    let read: CountView;
    try {
      read = await this.store.add(batch, this.o.now());
    } catch (err) {
      for (const [id, sent] of batch) {
        const v = this.views.get(id);
        if (v) restorePending(v, sent);
      }
      this.o.onError(err);
      return;
    }
    for (const [id, sent] of batch) {
      const v = this.views.get(id);
      if (v) confirm(v, sent as Map<CounterName, Buckets>, read.get(id));
    }
  }

  private judge(v: IdentityView, now: number): Finding[] {
    const specs = this.store.specs;
    const c = v.counters;
    const stats: WindowStats = {
      volume: total(c.volume, specs.volume, now),
      distinctReads: 0, // bulk_read: at admission
      notFound: total(c.not_found, specs.not_found, now),
      continuedPages: total(c.pages, specs.pages, now),
      staleReads: total(c.stale, specs.stale, now),
      sources: total(c.sources, specs.sources, now),
    };
    const window = Math.floor(now / specs.volume_w.bucketMs);
    let baseline = 0;
    for (const n of series(c.volume_w, window - BASELINE_WINDOWS, window))
      baseline = baseline === 0 ? n : 0.8 * baseline + 0.2 * n;
    const fresh: Finding[] = [];
    for (const f of evaluateStats(stats, { now, baseline, t: this.t })) {
      const last = v.fired.get(f.rule);
      if (last !== undefined && now - last < this.t.windowMs) continue;
      v.fired.set(f.rule, now);
      fresh.push(f);
    }
    return fresh;
  }
}
