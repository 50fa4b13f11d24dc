/**
 * Keeps each identity's recent access events and runs the rules over them. No I/O: `observe` returns the findings
 * that are new (each rule fires at most once per identity per `windowMs`), and the caller logs, alerts and
 * quarantines. The rules run every `evaluateEvery` events (at most every 100 ms, and at least every 64 events or
 * once a second) per identity, so their cost stays flat under load; a bulk read is caught at most 64 requests after
 * it crosses its threshold.
 */
import { evaluate } from "./rules.js";
import type { AccessEvent, Finding, RuleName, Thresholds } from "./rules.js";

const MAX_EVENTS = 5000;

interface IdentityState {
  events: AccessEvent[];
  sinceEval: number;
  lastEval: number;
  /** EWMA of requests per volume window, updated when a window closes. */
  baseline: number;
  bucketStart: number;
  bucketCount: number;
  fired: Map<RuleName, number>;
}

export class Detector {
  private readonly state = new Map<string, IdentityState>();

  constructor(
    private readonly t: Thresholds,
    private readonly evaluateEvery = 8,
  ) {}

  observe(identity: string, e: AccessEvent): Finding[] {
    let s = this.state.get(identity);
    if (!s) {
      s = { events: [], sinceEval: 0, lastEval: 0, baseline: 0, bucketStart: e.time, bucketCount: 0, fired: new Map() };
      this.state.set(identity, s);
    }
    this.rollBaseline(s, e.time);
    s.bucketCount++;
    s.events.push(e);
    s.sinceEval++;
    // Under a flood the rules run every 64 events rather than every `evaluateEvery`, so their cost per request stays
    // small even with a full window (a rule's work is linear in the window).
    const due = e.time - s.lastEval >= 1000 || s.sinceEval >= 64 || (s.sinceEval >= this.evaluateEvery && e.time - s.lastEval >= 100);
    if (!due) return [];
    this.prune(s, e.time);
    s.sinceEval = 0;
    s.lastEval = e.time;
    const fresh: Finding[] = [];
    for (const f of evaluate(s.events, { now: e.time, baseline: s.baseline, t: this.t })) {
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

  /** Drops identities idle for longer than the window; call now and then. */
  sweep(now: number): void {
    for (const [id, s] of this.state) {
      const last = s.events[s.events.length - 1];
      if (!last || now - last.time > this.t.windowMs) this.state.delete(id);
    }
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

  private prune(s: IdentityState, now: number): void {
    const keepFrom = now - Math.max(this.t.windowMs, this.t.volumeWindowMs, this.t.sourcesWindowMs, this.t.notFoundWindowMs);
    let i = 0;
    while (i < s.events.length && (s.events[i] as AccessEvent).time <= keepFrom) i++;
    if (s.events.length - i > MAX_EVENTS) i = s.events.length - MAX_EVENTS;
    if (i > 0) s.events.splice(0, i);
  }
}
