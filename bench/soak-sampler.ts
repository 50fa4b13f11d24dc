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
 * The bounds, after warm-up (the first `warmupMin` minutes are left out): the growth of RSS's peaks and the heap's
 * floors (in a run too short for a trend, their peaks against warm-up's and under ceilings), the spread of open fds, the
 * worst event-loop p99, and the p99 latency of the last third against the first third of the run.
 */
export const BOUNDS = {
  rssMbPerMin: 3,
  heapMbPerMin: 2,
  /** A short run: the peak after warm-up may pass the peak during warm-up by this much (one ramp of the sawtooth). */
  rssPeakMarginMb: 40,
  heapPeakMarginMb: 30,
  rssCeilingMb: 256,
  heapCeilingMb: 128,
  fdSpread: 12,
  loopP99Ms: 100,
  p99Ratio: 2,
  p99SlackMs: 25,
};
/**
 * Measured minutes from which the memory trends are judged (CI's soak measures 6: .ci/run runs 7 minutes).
 *
 * Both are sawtooths of V8's full collections, about a minute apart in CI and 1-2 minutes on a quieter run here: each
 * gives back 20-50 MB of dead buffers (RSS) and the old generation's garbage (heap used, whose floor after young
 * collections rises between full ones). A measured minute may hold a single ramp and no drop, and then no statistic
 * inside it tells a leak. On 2-minute runs without one: RSS read 10.4 MB/min by a least-squares slope and 34.4 MB/min
 * by its floors of halves (CI, bf85be9 and c2436c7), and the heap's floor 8.2 MB/min (here, 22.3 -> 26.4 MB, a ramp
 * after a full collection at 0.83 min); soak-verdicts.test.ts. From TREND_MIN measured minutes the halves are compared:
 * - the heap by its floors (each half holds full collections);
 * - RSS by its peaks: its drops come with the collections that free external buffers, and those may stop. CI's first
 *   7-minute soak (16f790a) had three drops to 101-106 MB in the first half and none after 3.5 min, RSS level at
 *   133-140 MB: its floors read 5.9 MB/min, its peaks 140.7 -> 139.6 MB. A leak lifts the peaks.
 * A shorter run only catches a leak that lifts the peak past warm-up's by more than a ramp (RSS rose up to 14 MB, the
 * heap up to 9 MB past warm-up's peak on runs without one), i.e. one of tens of MB a minute.
 */
export const TREND_MIN = 5;

const f1 = (n: number) => n.toFixed(1);

interface Measure {
  what: string;
  value: (x: Sample) => number;
  /** What the halves of a long run compare: their lowest or their highest value. */
  trend: "floor" | "peak";
  perMinBound: number;
  peakMargin: number;
  ceiling: number;
}

/** A short run's verdict: the peak after warm-up against warm-up's peak (when there was a warm-up) and a ceiling. */
function peakVerdict(m: Measure, s: readonly Sample[], warm: readonly Sample[], measured: number): Verdict {
  const peak = Math.max(...s.map(m.value));
  const warmPeak = warm.length ? Math.max(...warm.map(m.value)) : undefined;
  const limit = Math.min(m.ceiling, warmPeak === undefined ? Infinity : warmPeak + m.peakMargin);
  return {
    what: `${m.what} (peak vs warm-up)`,
    value: `${f1(peak)} MB${warmPeak === undefined ? "" : ` (warm-up's ${f1(warmPeak)})`}; a trend needs ${TREND_MIN} measured minutes, this run measured ${f1(measured)}`,
    bound: `< ${f1(limit)} MB (warm-up's peak + ${m.peakMargin}, at most ${m.ceiling})`,
    flat: peak < limit,
  };
}

/**
 * One memory measure: from TREND_MIN measured minutes, its floor or peak (Measure.trend) in the last half of the run
 * after warm-up minus that in the first half, per minute between their midpoints; before, peakVerdict.
 */
function memoryVerdict(m: Measure, s: readonly Sample[], warm: readonly Sample[]): Verdict {
  const measured = Math.max(0.1, (s.at(-1)?.t ?? 0) - (s[0]?.t ?? 0));
  if (measured < TREND_MIN) return peakVerdict(m, s, warm, measured);
  const half = Math.max(1, Math.floor(s.length / 2));
  const pick = (xs: readonly Sample[]) => (m.trend === "floor" ? Math.min : Math.max)(...xs.map(m.value));
  const from = pick(s.slice(0, half));
  const to = pick(s.slice(-half));
  const perMin = (to - from) / (measured / 2);
  return {
    what: `${m.what} (${m.trend}s of halves)`,
    value: `${f1(perMin)} MB/min (${f1(from)} -> ${f1(to)} MB)`,
    bound: `< ${f1(m.perMinBound)} MB/min`,
    flat: perMin < m.perMinBound,
  };
}

/** RSS is compared by its peaks and the heap by its floors (TREND_MIN says why). */
const MEASURES: readonly Measure[] = [
  {
    what: "RSS",
    value: (x) => x.rssMb,
    trend: "peak",
    perMinBound: BOUNDS.rssMbPerMin,
    peakMargin: BOUNDS.rssPeakMarginMb,
    ceiling: BOUNDS.rssCeilingMb,
  },
  {
    what: "heap used",
    value: (x) => x.heapMb,
    trend: "floor",
    perMinBound: BOUNDS.heapMbPerMin,
    peakMargin: BOUNDS.heapPeakMarginMb,
    ceiling: BOUNDS.heapCeilingMb,
  },
];

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
  const warm = samples.filter((x) => x.t < warmupMin);
  return [
    ...MEASURES.map((m) => memoryVerdict(m, s, warm)),
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
