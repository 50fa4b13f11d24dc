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
  /** The lowest RSS read (every 0.5 s) during the interval that ended here: the trough a 5 s sample may miss. */
  rssLowMb?: number;
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
 * The bounds, after warm-up (the first `warmupMin` minutes are left out): the growth of RSS's and the heap's floors
 * (in a run too short for a trend, ceilings on their peaks), the spread of open
 * fds, the worst event-loop p99, and the p99 latency of the last third against the first third of the run.
 */
export const BOUNDS = {
  rssMbPerMin: 3,
  rssCeilingMb: 256,
  heapMbPerMin: 2,
  heapCeilingMb: 128,
  fdSpread: 12,
  loopP99Ms: 100,
  p99Ratio: 2,
  p99SlackMs: 25,
};
/**
 * Measured minutes from which the memory trends are judged; a shorter run holds RSS and heap under ceilings only.
 *
 * Both are sawtooths of V8's full collections, about a minute apart in CI and 1-2 minutes on a quieter run here: each
 * gives back 20-50 MB of dead buffers (RSS) and the old generation's garbage (heap used, whose floor after young
 * collections rises between full ones). A measured minute may hold a single ramp and no drop, and then no statistic
 * inside it tells a leak. On 2-minute runs without one: RSS read 10.4 MB/min by a least-squares slope and 34.4 MB/min
 * by its floors of halves (CI, bf85be9 and c2436c7), and the heap's floor 8.2 MB/min (here, 22.3 -> 26.4 MB, a ramp
 * after a full collection at 0.83 min); soak-verdicts.test.ts. From TREND_MIN measured minutes each half holds full
 * collections, and the floors of halves tell a trend.
 */
export const TREND_MIN = 6;

const f1 = (n: number) => n.toFixed(1);

/**
 * One memory measure: from TREND_MIN measured minutes, its floor (the lowest value) in the last half of the run
 * after warm-up minus that in the first half, per minute between their midpoints; before, its peak under a ceiling.
 */
function memoryVerdict(
  what: string,
  s: readonly Sample[],
  low: (x: Sample) => number,
  high: (x: Sample) => number,
  perMinBound: number,
  ceiling: number,
): Verdict {
  const measured = Math.max(0.1, (s.at(-1)?.t ?? 0) - (s[0]?.t ?? 0));
  if (measured < TREND_MIN) {
    const peak = Math.max(...s.map(high));
    return {
      what: `${what} (peak)`,
      value: `${f1(peak)} MB (a trend needs ${TREND_MIN} measured minutes; this run measured ${f1(measured)})`,
      bound: `< ${ceiling} MB`,
      flat: peak < ceiling,
    };
  }
  const half = Math.max(1, Math.floor(s.length / 2));
  const floor = (xs: readonly Sample[]) => Math.min(...xs.map(low));
  const from = floor(s.slice(0, half));
  const to = floor(s.slice(-half));
  const perMin = (to - from) / (measured / 2);
  return {
    what: `${what} (floor)`,
    value: `${f1(perMin)} MB/min (${f1(from)} -> ${f1(to)} MB)`,
    bound: `< ${f1(perMinBound)} MB/min`,
    flat: perMin < perMinBound,
  };
}

export function verdicts(samples: readonly Sample[], warmupMin: number): Verdict[] {
  const s = samples.filter((x) => x.t >= warmupMin);
  const third = Math.max(1, Math.floor(s.length / 3));
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
  return [
    memoryVerdict(
      "RSS",
      s,
      (x) => x.rssLowMb ?? x.rssMb,
      (x) => x.rssMb,
      BOUNDS.rssMbPerMin,
      BOUNDS.rssCeilingMb,
    ),
    memoryVerdict(
      "heap used",
      s,
      (x) => x.heapMb,
      (x) => x.heapMb,
      BOUNDS.heapMbPerMin,
      BOUNDS.heapCeilingMb,
    ),
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
