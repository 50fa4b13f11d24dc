/**
 * The soak's verdicts (bench/soak-sampler.ts), on real sample series. RSS and heap used are sawtooths of V8's full
 * collections (about a minute apart in CI), so:
 * - a run that measures TREND_MIN minutes or more (CI's 7-minute soak measures 6) is judged by the floors of its
 *   halves: flat for the sawtooth, growth for a leak of a few MB a minute on top of it;
 * - a shorter one only by its peak against warm-up's peak plus a margin and a ceiling, because its measured minute
 *   may hold a single ramp: on the 2-minute runs below, without a leak, a least-squares slope read RSS as 10.4 MB/min
 *   (CI of bf85be9, which failed on it), the floors of halves 34.4 MB/min (CI simulation of c2436c7, which failed on
 *   it) and the heap's floor 8.2 MB/min (local run A).
 */
import { expect } from "chai";
import { TREND_MIN, verdicts } from "../bench/soak-sampler.js";
import type { Sample } from "../bench/soak-sampler.js";

/** Whole 2-minute runs, a sample every 5 s from 0.08 min, warm-up (the first minute) included. */
const RUNS: Record<string, { rss: number[]; heap: number[]; low?: number[] }> = {
  "CI of bf85be9": {
    rss: [
      119.6, 127.3, 127.8, 130.7, 132.2, 133.2, 134.6, 135.9, 137.3, 139.1, 141.4, 106.6, 110.7, 112.7, 115.2, 119.4,
      119.4, 119.5, 120.9, 128.5, 134.5, 135.1, 104.7, 110.1,
    ],
    heap: [
      25.1, 30.5, 37.6, 32.1, 40.3, 34.4, 41.5, 36.5, 44.4, 38.5, 43.2, 23.0, 24.4, 26.1, 24.8, 24.4, 24.0, 29.9, 29.9,
      27.1, 36.0, 30.5, 22.2, 25.2,
    ],
  },
  "CI simulation of c2436c7": {
    rss: [
      115.8, 123.4, 125.2, 127.5, 128.6, 129.0, 131.6, 133.7, 134.6, 135.8, 137.2, 102.0, 106.4, 107.4, 112.6, 117.1,
      117.8, 119.1, 119.2, 133.7, 134.5, 134.9, 134.1, 135.4,
    ],
    heap: [
      24.8, 29.8, 37.2, 29.5, 35.2, 40.4, 35.0, 43.1, 37.0, 41.6, 35.0, 21.8, 25.2, 25.2, 23.3, 25.9, 28.7, 28.6, 28.2,
      22.5, 31.2, 35.2, 27.5, 38.6,
    ],
  },
  "local run A": {
    rss: [
      148.4, 148.2, 141.8, 140.3, 142.8, 143.6, 144.7, 146.5, 147.5, 109.2, 111.6, 117.6, 117.8, 123.0, 125.1, 124.7,
      124.6, 124.8, 132.6, 138.2, 139.2, 140.3, 141.5, 143.5,
    ],
    low: [
      136.9, 145.4, 141.8, 139.3, 141.5, 142.8, 143.6, 145.3, 146.5, 107.2, 110.3, 111.9, 116.7, 116.6, 122.8, 124.7,
      124.0, 124.6, 125.3, 132.6, 138.3, 137.9, 140.3, 141.5,
    ],
    heap: [
      31.0, 38.3, 30.6, 39.8, 32.9, 39.0, 43.5, 36.2, 44.5, 23.5, 25.0, 26.0, 22.9, 25.3, 30.8, 22.3, 30.6, 29.8, 26.4,
      34.6, 28.8, 32.5, 38.8, 35.5,
    ],
  },
  // Its full collection came late (1.75 min): the measured peaks passed warm-up's by 12.8 MB (RSS) and 9.2 MB (heap).
  "local run B": {
    rss: [
      149.6, 151.3, 153.1, 155.3, 146.2, 147.1, 148.0, 150.9, 151.3, 152.6, 154.4, 155.5, 158.2, 159.5, 159.9, 161.5,
      163.3, 164.3, 166.5, 168.1, 123.6, 124.7, 129.3, 131.2,
    ],
    heap: [
      33.2, 36.9, 31.6, 39.0, 31.2, 36.8, 40.8, 32.9, 40.7, 46.7, 40.7, 46.1, 50.8, 43.3, 46.5, 52.1, 46.9, 51.0, 46.3,
      55.9, 24.6, 25.8, 27.0, 27.8,
    ],
  },
};

const steady = { fds: 39, loopP99Ms: 15, p99Ms: 50, ops: 124 };

/** Samples every 5 s from 0.08 min (minute 1 is the warm-up's end). */
function samples(rss: readonly number[], heap: readonly number[], low?: readonly number[]): Sample[] {
  return rss.map((rssMb, i) => ({
    ...steady,
    t: (i + 1) / 12,
    rssMb,
    heapMb: heap[i] as number,
    ...(low ? { rssLowMb: low[i] as number } : {}),
  }));
}

const verdictOf = (s: Sample[], what: string) => verdicts(s, 1).find((v) => v.what.startsWith(what));

/** `minutes` of a sawtooth repeating `minute` (12 samples), plus `mbPerMin` of growth. */
function repeated(minute: readonly number[], minutes: number, mbPerMin: number): number[] {
  return Array.from(
    { length: Math.round(minutes * 12) },
    (_, i) => (minute[i % minute.length] as number) + (mbPerMin * i) / 12,
  );
}

describe("soak verdicts: short runs judge peaks against warm-up's", function () {
  for (const [name, run] of Object.entries(RUNS)) {
    it(`${name}: RSS and heap read flat by their peaks`, function () {
      const s = samples(run.rss, run.heap, run.low);
      for (const what of ["RSS", "heap used"]) {
        const v = verdictOf(s, what);
        expect(v?.what).to.equal(`${what} (peak)`);
        expect(v?.flat, v?.value).to.equal(true);
      }
    });

    it(`${name}: the same with a leak of 60 MB a minute reads as growth, RSS and heap each`, function () {
      const leak = (xs: readonly number[]) => xs.map((mb, i) => mb + (60 * i) / 12);
      expect(verdictOf(samples(leak(run.rss), run.heap), "RSS")?.flat).to.equal(false);
      expect(verdictOf(samples(run.rss, leak(run.heap)), "heap used")?.flat).to.equal(false);
    });
  }

  it("without warm-up samples, a peak past the ceiling reads as growth", function () {
    const run = RUNS["CI of bf85be9"] ?? { rss: [], heap: [] };
    const s = samples(
      run.rss.map((mb) => mb + 130),
      run.heap,
    ).filter((x) => x.t >= 1);
    expect(verdictOf(s, "RSS")?.flat).to.equal(false);
    expect(
      verdictOf(
        s.map((x) => ({ ...x, rssMb: x.rssMb - 130 })),
        "RSS",
      )?.flat,
    ).to.equal(true);
  });
});

describe("soak verdicts: runs of TREND_MIN measured minutes judge floors of halves", function () {
  const minuteOf = (xs: readonly number[]) => xs.slice(11, 23);
  for (const [name, run] of Object.entries(RUNS)) {
    it(`${name}: seven minutes of its sawtooth read flat; with 5 MB (RSS) or 3 MB (heap) a minute, growth`, function () {
      const rss = repeated(minuteOf(run.rss), 7, 0);
      const heap = repeated(minuteOf(run.heap), 7, 0);
      for (const what of ["RSS", "heap used"]) {
        const v = verdictOf(samples(rss, heap), what);
        expect(v?.what).to.equal(`${what} (floor)`);
        expect(v?.flat, v?.value).to.equal(true);
      }
      expect(verdictOf(samples(repeated(minuteOf(run.rss), 7, 5), heap), "RSS")?.flat).to.equal(false);
      expect(verdictOf(samples(rss, repeated(minuteOf(run.heap), 7, 3)), "heap used")?.flat).to.equal(false);
    });
  }

  it("RSS's floor is the lowest value read between samples (rssLowMb), not the samples'", function () {
    // The samples miss every trough and rise 5 MB a minute; the reads between them saw flat troughs.
    const run = RUNS["local run A"] ?? { rss: [], heap: [] };
    const heap = repeated(minuteOf(run.heap), 7, 0);
    const low = repeated(minuteOf(run.rss), 7, 0);
    const rss = low.map((_, i) => 150 + (5 * i) / 12);
    const v = verdictOf(samples(rss, heap, low), "RSS");
    expect(v?.what).to.equal("RSS (floor)");
    expect(v?.flat, v?.value).to.equal(true);
    expect(verdictOf(samples(rss, heap), "RSS")?.flat).to.equal(false);
  });

  it("CI's 7-minute run is judged by its floors even when its last sample comes a little early", function () {
    // .ci/run: npm run soak -- --minutes 7; samples every 5 s, the last one before 7.00 min at worst.
    const run = RUNS["CI of bf85be9"] ?? { rss: [], heap: [] };
    const s = samples(repeated(run.rss, 7, 0), repeated(run.heap, 7, 0)).filter((x) => x.t < 6.95);
    expect(verdictOf(s, "RSS")?.what).to.equal("RSS (floor)");
    expect(verdictOf(s, "heap used")?.what).to.equal("heap used (floor)");
  });

  it(`the trend starts at ${TREND_MIN} measured minutes: just below, peaks are judged`, function () {
    const run = RUNS["CI of bf85be9"] ?? { rss: [], heap: [] };
    const at = (measured: number) => {
      const n = Math.round((1 + measured) * 12);
      const s = samples(repeated(run.rss, n / 12, 0), repeated(run.heap, n / 12, 0)).filter((x) => x.t <= 1 + measured);
      return verdictOf(s, "RSS")?.what;
    };
    expect(at(TREND_MIN)).to.equal("RSS (floor)");
    expect(at(TREND_MIN - 0.25)).to.equal("RSS (peak)");
  });
});
