/**
 * Keeps, per identity, the counts the anomaly rules need over their windows (requests per second, distinct records
 * read, stale records read, 404s, continued list pages, source addresses), and runs the rules on every access. No
 * I/O: `observe` returns the findings that are new (each rule fires at most once per identity per `windowMs`), and
 * the caller logs, alerts and quarantines.
 *
 * The server uses anomaly/shared-detector.ts (the same rules over counts shared by every node and kept across
 * restarts); this one counts in one process only and stays as the reference the rule tests run against.
 *
 * The counts are kept incrementally, each in a structure bounded by time and by a small multiple of its rule's
 * threshold, so that cheap requests cannot push the interesting ones out of view (as a capped list of raw events
 * would let them) and the work per request stays constant.
 */
import { evaluateStats } from "./rules.js";
import type { AccessEvent, Finding, RuleName, Thresholds, WindowStats } from "./rules.js";

/** Times keyed by something (record id, address), oldest first; re-seeing a key moves it to the end. */
class RecentKeys {
  private readonly m = new Map<string, number>();
  constructor(private readonly cap: number) {}
  see(key: string, time: number): void {
    this.m.delete(key);
    this.m.set(key, time);
    if (this.m.size > this.cap) this.m.delete(this.m.keys().next().value as string);
  }
  prune(before: number): void {
    for (const [k, t] of this.m) {
      if (t > before) break;
      this.m.delete(k);
    }
  }
  get size(): number {
    return this.m.size;
  }
}

/** Event times, oldest first. */
class RecentTimes {
  private readonly times: number[] = [];
  constructor(private readonly cap: number) {}
  add(time: number): void {
    this.times.push(time);
    if (this.times.length > this.cap) this.times.shift();
  }
  prune(before: number): void {
    let i = 0;
    while (i < this.times.length && (this.times[i] as number) <= before) i++;
    if (i > 0) this.times.splice(0, i);
  }
  get size(): number {
    return this.times.length;
  }
}

interface IdentityState {
  /** [second, count] per second within the volume window. */
  perSecond: [number, number][];
  reads: RecentKeys;
  stale: RecentKeys;
  notFound: RecentTimes;
  pages: RecentTimes;
  sources: RecentKeys;
  last: number;
  /** EWMA of requests per volume window, updated when a window closes. */
  baseline: number;
  bucketStart: number;
  bucketCount: number;
  fired: Map<RuleName, number>;
}

export class Detector {
  private readonly state = new Map<string, IdentityState>();

  constructor(private readonly t: Thresholds) {}

  observe(identity: string, e: AccessEvent): Finding[] {
    const s = this.stateOf(identity, e.time);
    this.record(s, e);
    this.prune(s, e.time);
    const stats: WindowStats = {
      volume: s.perSecond.reduce((n, [, c]) => n + c, 0),
      distinctReads: s.reads.size,
      notFound: s.notFound.size,
      continuedPages: s.pages.size,
      staleReads: s.stale.size,
      sources: s.sources.size,
    };
    const fresh: Finding[] = [];
    for (const f of evaluateStats(stats, { now: e.time, baseline: s.baseline, t: this.t })) {
      const last = s.fired.get(f.rule);
      if (last !== undefined && e.time - last < this.t.windowMs) continue;
      s.fired.set(f.rule, e.time);
      fresh.push(f);
    }
    return fresh;
  }

  /** Forgets an identity's history (after an admin releases it from quarantine). */
  reset(identity: string): void {
    this.state.delete(identity);
  }

  /** Drops identities idle for longer than every window; call now and then. */
  sweep(now: number): void {
    for (const [id, s] of this.state) if (now - s.last > this.longestWindow()) this.state.delete(id);
  }

  private longestWindow(): number {
    return Math.max(this.t.windowMs, this.t.volumeWindowMs, this.t.sourcesWindowMs, this.t.notFoundWindowMs);
  }

  private stateOf(identity: string, now: number): IdentityState {
    let s = this.state.get(identity);
    if (!s) {
      const t = this.t;
      s = {
        perSecond: [],
        reads: new RecentKeys(4 * t.distinctRecords),
        stale: new RecentKeys(4 * t.staleRecords),
        notFound: new RecentTimes(4 * t.notFound),
        pages: new RecentTimes(4 * t.listPages),
        sources: new RecentKeys(4 * t.sources),
        last: now,
        baseline: 0,
        bucketStart: now,
        bucketCount: 0,
        fired: new Map(),
      };
      this.state.set(identity, s);
    }
    return s;
  }

  private record(s: IdentityState, e: AccessEvent): void {
    s.last = e.time;
    this.rollBaseline(s, e.time);
    s.bucketCount++;
    const second = Math.floor(e.time / 1000);
    const tail = s.perSecond[s.perSecond.length - 1];
    if (tail && tail[0] === second) tail[1]++;
    else s.perSecond.push([second, 1]);
    s.sources.see(e.source, e.time);
    if (e.status === 404) s.notFound.add(e.time);
    if (e.action === "get" && e.recordId) {
      if (e.status === 200) s.reads.see(e.recordId, e.time);
      if ((e.recordAgeMs ?? 0) >= this.t.staleAgeMs) s.stale.see(e.recordId, e.time);
    }
    if (e.action === "list" && e.list?.cursor) s.pages.add(e.time);
  }

  private prune(s: IdentityState, now: number): void {
    const t = this.t;
    const firstSecond = Math.floor((now - t.volumeWindowMs) / 1000);
    while (s.perSecond.length > 0 && (s.perSecond[0] as [number, number])[0] <= firstSecond) s.perSecond.shift();
    s.reads.prune(now - t.windowMs);
    s.stale.prune(now - t.windowMs);
    s.pages.prune(now - t.windowMs);
    s.notFound.prune(now - t.notFoundWindowMs);
    s.sources.prune(now - t.sourcesWindowMs);
  }

  private rollBaseline(s: IdentityState, now: number): void {
    const w = this.t.volumeWindowMs;
    while (now - s.bucketStart >= w) {
      s.baseline = s.baseline === 0 ? s.bucketCount : 0.8 * s.baseline + 0.2 * s.bucketCount;
      s.bucketCount = 0;
      s.bucketStart += w;
      // After a long idle stretch the empty windows decay the baseline; cap the catch-up work.
      if (now - s.bucketStart > 100 * w) s.bucketStart = now - (now % w);
    }
  }
}
