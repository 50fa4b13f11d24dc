/**
 * What the soak watches on the server process: RSS and open file descriptors from /proc/PID (the kernel's word),
 * heap used and event-loop delay p99 from the server's own /metrics (prom-client default metrics, admin only), and
 * the clients' p99 latency per interval; then whether each stayed flat after warm-up, against stated bounds.
 */
import { readFileSync, readdirSync } from "node:fs";

export interface Sample {
  /** Minutes since the start of the run. */
  t: number;
  rssMb: number;
  fds: number;
  heapMb: number;
  loopP99Ms: number;
  /** p99 of the clients' request latencies during the interval that ended here. */
  p99Ms: number;
  ops: number;
}

export function procStats(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return { rssMb: kb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** certvault_nodejs_heap_size_used_bytes and certvault_nodejs_eventloop_lag_p99_seconds from the Prometheus text. */
export function fromMetrics(text: string): { heapMb: number; loopP99Ms: number } {
  const value = (name: string): number =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text)?.[1] ?? NaN);
  return {
    heapMb: value("certvault_nodejs_heap_size_used_bytes") / 2 ** 20,
    loopP99Ms: value("certvault_nodejs_eventloop_lag_p99_seconds") * 1000,
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

export interface Verdict {
  what: string;
  value: string;
  bound: string;
  flat: boolean;
}

/**
 * The bounds, after warm-up (the first `warmupMin` minutes are left out): the growth of RSS's and the heap's floors, the spread of open
 * fds, the worst event-loop p99, and the p99 latency of the last third against the first third of the run.
 */
export const BOUNDS = { rssMbPerMin: 3, heapMbPerMin: 2, fdSpread: 12, loopP99Ms: 100, p99Ratio: 2, p99SlackMs: 25 };
/**
 * A short run (CI's 2 minutes) cannot tell a slope from the tail of warm-up: it may also grow by this much in all
 * (RSS, heap floor) over the minutes measured, i.e. the slope bound is max(per-minute bound, total / minutes).
 */
export const SHORT_RUN_ALLOWANCE_MB = { rss: 10, heap: 6 };

export function verdicts(samples: readonly Sample[], warmupMin: number): Verdict[] {
  const s = samples.filter((x) => x.t >= warmupMin);
  // Heap used and RSS are both GC sawtooths: compare their floors (the lowest sample, i.e. after a collection) in the
  // first and the last half of the run after warm-up, per minute between their midpoints.
  // - Halves, not thirds: in CI's 2-minute run a third is 20 s, shorter than the gap between full collections, and
  //   one such window without one read as growth (heap 24.0 -> 28.3 MB, "6.4 MB/min", while the samples' floor
  //   stayed at 24-25 MB throughout; soak-verdicts.test.ts).
  // - Floors, not a least-squares slope, for RSS too: RSS follows the heap (a full collection gave back 35 MB), and
  //   a slope fitted to one minute of sawtooth read 10.4 MB/min while the floors went 106.6 -> 104.7 MB (CI of
  //   bf85be9; soak-verdicts.test.ts).
  const half = Math.max(1, Math.floor(s.length / 2));
  const third = Math.max(1, Math.floor(s.length / 3));
  const span = ((s.at(-1)?.t ?? 0) - (s[0]?.t ?? 0)) / 2 || 1;
  const floorOf = (f: (x: Sample) => number) => {
    const floor = (xs: readonly Sample[]) => Math.min(...xs.map(f));
    const from = floor(s.slice(0, half));
    const to = floor(s.slice(-half));
    return { from, to, perMin: (to - from) / span };
  };
  const rss = floorOf((x) => x.rssMb);
  const heap = floorOf((x) => x.heapMb);
  const fds = s.map((x) => x.fds);
  const fdSpread = fds.length ? Math.max(...fds) - Math.min(...fds) : 0;
  const loop = Math.max(0, ...s.map((x) => x.loopP99Ms).filter(Number.isFinite));
  const first = percentile(
    s.slice(0, third).map((x) => x.p99Ms),
    50,
  );
  const last = percentile(
    s.slice(-third).map((x) => x.p99Ms),
    50,
  );
  const f1 = (n: number) => n.toFixed(1);
  const measured = Math.max(0.1, (s.at(-1)?.t ?? 0) - (s[0]?.t ?? 0));
  const rssBound = Math.max(BOUNDS.rssMbPerMin, SHORT_RUN_ALLOWANCE_MB.rss / measured);
  const heapBound = Math.max(BOUNDS.heapMbPerMin, SHORT_RUN_ALLOWANCE_MB.heap / measured);
  return [
    {
      what: "RSS (floor)",
      value: `${f1(rss.perMin)} MB/min (${f1(rss.from)} -> ${f1(rss.to)} MB)`,
      bound: `< ${f1(rssBound)} MB/min`,
      flat: rss.perMin < rssBound,
    },
    {
      what: "heap used (floor)",
      value: `${f1(heap.perMin)} MB/min (${f1(heap.from)} -> ${f1(heap.to)} MB)`,
      bound: `< ${f1(heapBound)} MB/min`,
      flat: heap.perMin < heapBound,
    },
    {
      what: "open fds",
      value: `${Math.min(...fds)}..${Math.max(...fds)}`,
      bound: `spread <= ${BOUNDS.fdSpread}`,
      flat: fdSpread <= BOUNDS.fdSpread,
    },
    {
      what: "event-loop delay p99",
      value: `max ${f1(loop)} ms`,
      bound: `<= ${BOUNDS.loopP99Ms} ms`,
      flat: loop <= BOUNDS.loopP99Ms,
    },
    {
      what: "request p99",
      value: `${f1(first)} ms (first third) -> ${f1(last)} ms (last third)`,
      bound: `last <= ${BOUNDS.p99Ratio} x first + ${BOUNDS.p99SlackMs} ms`,
      flat: last <= BOUNDS.p99Ratio * first + BOUNDS.p99SlackMs,
    },
  ];
}
