/**
 * One node's view of one identity's shared rule counts (anomaly/shared-detector.ts): per counter, the buckets the
 * database held at this node's last flush (`shared`), plus this node's own events not yet in that read
 * (`unconfirmed`: pending, or in the flush under way), of which `pending` are not yet sent.
 */
import { COUNTERS } from "../store/rule-counters.js";
import type { CounterName, CounterSpec } from "../store/rule-counters.js";
import type { RuleName } from "./rules.js";

export type Buckets = Map<number, number>;

export interface CounterState {
  shared: Buckets;
  unconfirmed: Buckets;
  pending: Buckets;
  /** Events in `pending`. */
  pendingN: number;
}

export interface IdentityView {
  counters: Record<CounterName, CounterState>;
  /** Distinct marks (counter + key) and when they last counted, on any node: a cache of rule_marks. */
  marks: Map<string, number>;
  fired: Map<RuleName, number>;
  serial: string | null;
  last: number;
}

export function newView(now: number): IdentityView {
  const counters = {} as Record<CounterName, CounterState>;
  for (const c of COUNTERS)
    counters[c] = { shared: new Map(), unconfirmed: new Map(), pending: new Map(), pendingN: 0 };
  return { counters, marks: new Map(), fired: new Map(), serial: null, last: now };
}

function add(m: Buckets, bucket: number, n: number): void {
  const v = (m.get(bucket) ?? 0) + n;
  if (v > 0) m.set(bucket, v);
  else m.delete(bucket);
}

/** One event of this node. */
export function bump(c: CounterState, spec: CounterSpec, time: number): void {
  const b = Math.floor(time / spec.bucketMs);
  add(c.pending, b, 1);
  add(c.unconfirmed, b, 1);
  c.pendingN++;
}

/** The counter over its kept range at `now`: the database's buckets plus this node's unconfirmed events. */
export function total(c: CounterState, spec: CounterSpec, now: number): number {
  const first = Math.floor(now / spec.bucketMs) - spec.keep + 1;
  let n = 0;
  for (const [b, v] of c.shared) if (b >= first) n += v;
  for (const [b, v] of c.unconfirmed) if (b >= first) n += v;
  return n;
}

/** The counts of each closed bucket from `from` to `to` (exclusive), oldest first (the volume baseline). */
export function series(c: CounterState, from: number, to: number): number[] {
  const out: number[] = [];
  for (let b = from; b < to; b++) out.push((c.shared.get(b) ?? 0) + (c.unconfirmed.get(b) ?? 0));
  return out;
}

/** Takes what is pending (to send); the events stay unconfirmed until the flush's read comes back. */
export function takePending(v: IdentityView): Map<CounterName, Buckets> | undefined {
  let out: Map<CounterName, Buckets> | undefined;
  for (const name of COUNTERS) {
    const c = v.counters[name];
    if (c.pendingN === 0) continue;
    (out ??= new Map()).set(name, c.pending);
    c.pending = new Map();
    c.pendingN = 0;
  }
  return out;
}

/** A flush failed: what it took is pending again (and was never stopped being counted here). */
export function restorePending(v: IdentityView, sent: Map<CounterName, Buckets>): void {
  for (const [name, buckets] of sent) {
    const c = v.counters[name];
    for (const [b, n] of buckets) {
      add(c.pending, b, n);
      c.pendingN += n;
    }
  }
}

/**
 * A flush came back: the database's buckets replace this node's copy (one flush at a time per node, and they hold
 * what was sent), and what was sent is no longer unconfirmed.
 */
export function confirm(
  v: IdentityView,
  sent: Map<CounterName, Buckets>,
  read: Map<CounterName, Buckets> | undefined,
): void {
  for (const [name, buckets] of sent) for (const [b, n] of buckets) add(v.counters[name].unconfirmed, b, -n);
  for (const name of COUNTERS) v.counters[name].shared = read?.get(name) ?? new Map();
}
