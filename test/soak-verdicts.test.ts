/**
 * The soak's verdicts (bench/soak-sampler.ts), on real sample series. RSS and heap used are sawtooths of V8's full
 * collections (about a minute apart in CI), so:
 * - a run that measures TREND_MIN minutes or more (CI's 6.25-minute soak measures 5.25; its 7-minute one until session 14 measured 6) is judged by its halves, the heap
 *   by their floors and RSS by their peaks: flat for the sawtooth, growth for a leak of a few MB a minute on top of it
 *   (CI's first 7-minute run, whose RSS stopped dropping after 3.5 minutes, read 5.9 MB/min by its floors);
 * - a shorter one only by its peak against warm-up's peak plus a margin and a ceiling, because its measured minute
 *   may hold a single ramp: on the 2-minute runs below, without a leak, a least-squares slope read RSS as 10.4 MB/min
 *   (CI of bf85be9, which failed on it), the floors of halves 34.4 MB/min (CI simulation of c2436c7, which failed on
 *   it) and the heap's floor 8.2 MB/min (local run A).
 */
import { expect } from "chai";
import { TREND_MIN, verdicts } from "../bench/soak-sampler.js";
import type { Sample } from "../bench/soak-sampler.js";

/** Whole 2-minute runs, a sample every 5 s from 0.08 min, warm-up (the first minute) included. */
const RUNS: Record<string, { rss: number[]; heap: number[] }> = {
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

/** CI's first 7-minute soak (simulation of 16f790a), a sample every 5 s from 0.08 min. */
const CI_7_MINUTES = {
  rss: [
    121.3, 124.0, 125.3, 127.1, 130.3, 131.5, 133.0, 133.6, 136.8, 138.7, 138.1, 140.7, 104.9, 106.5, 111.4, 109.7,
    117.6, 118.1, 119.5, 119.5, 125.7, 132.4, 133.4, 134.5, 134.6, 135.8, 136.6, 136.7, 103.3, 108.3, 110.3, 118.4,
    119.1, 119.2, 120.4, 126.1, 133.9, 134.0, 134.5, 134.9, 134.9, 106.2, 109.2, 111.3, 112.1, 118.1, 119.1, 118.3,
    119.3, 126.2, 133.2, 133.7, 133.7, 133.0, 134.1, 135.7, 136.2, 135.7, 135.0, 135.5, 136.3, 136.3, 136.6, 136.8,
    136.8, 137.0, 137.0, 136.8, 137.7, 137.8, 137.9, 138.0, 138.0, 138.0, 138.5, 138.7, 138.8, 138.9, 138.9, 139.2,
    139.3, 139.4, 139.5, 139.6,
  ],
  heap: [
    32.6, 25.0, 29.2, 38.2, 29.4, 36.5, 30.9, 36.1, 42.8, 36.7, 43.4, 38.2, 22.3, 23.3, 25.1, 23.9, 22.8, 29.3, 25.5,
    28.1, 24.9, 31.7, 36.0, 29.5, 33.3, 29.1, 27.7, 35.3, 23.7, 25.7, 25.2, 22.1, 23.5, 26.4, 31.9, 33.8, 25.7, 30.0,
    35.5, 30.5, 34.8, 22.9, 26.0, 25.0, 21.8, 27.5, 27.5, 29.9, 27.5, 35.6, 29.8, 27.0, 32.8, 39.3, 31.1, 32.3, 27.2,
    31.3, 26.4, 36.0, 30.2, 37.1, 33.0, 29.9, 36.0, 31.3, 37.1, 36.1, 35.2, 29.0, 37.1, 36.5, 32.6, 39.0, 24.4, 33.9,
    28.2, 33.6, 29.3, 38.7, 33.4, 33.3, 25.0, 33.0,
  ],
};

const steady = { fds: 39, loopP99Ms: 15, p99Ms: 50, ops: 124 };

/** Samples every 5 s from 0.08 min (minute 1 is the warm-up's end). */
function samples(rss: readonly number[], heap: readonly number[]): Sample[] {
  return rss.map((rssMb, i) => ({ ...steady, t: (i + 1) / 12, rssMb, heapMb: heap[i] as number }));
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
      const s = samples(run.rss, run.heap);
      for (const what of ["RSS", "heap used"]) {
        const v = verdictOf(s, what);
        expect(v?.what).to.equal(`${what} (peak vs warm-up)`);
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

const TREND = { RSS: "RSS (peaks of halves)", "heap used": "heap used (floors of halves)" } as const;

describe("soak verdicts: runs of TREND_MIN measured minutes judge their halves", function () {
  const minuteOf = (xs: readonly number[]) => xs.slice(11, 23);
  for (const [name, run] of Object.entries(RUNS)) {
    it(`${name}: seven minutes of its sawtooth read flat; with 5 MB (RSS) or 3 MB (heap) a minute, growth`, function () {
      const rss = repeated(minuteOf(run.rss), 7, 0);
      const heap = repeated(minuteOf(run.heap), 7, 0);
      for (const what of ["RSS", "heap used"] as const) {
        const v = verdictOf(samples(rss, heap), what);
        expect(v?.what).to.equal(TREND[what]);
        expect(v?.flat, v?.value).to.equal(true);
      }
      expect(verdictOf(samples(repeated(minuteOf(run.rss), 7, 5), heap), "RSS")?.flat).to.equal(false);
      expect(verdictOf(samples(rss, repeated(minuteOf(run.heap), 7, 3)), "heap used")?.flat).to.equal(false);
    });
  }

  it("CI's first 7-minute run (16f790a): RSS stopped dropping after 3.5 minutes, and reads flat by its peaks", function () {
    const v = verdictOf(samples(CI_7_MINUTES.rss, CI_7_MINUTES.heap), "RSS");
    expect(v?.what).to.equal(TREND.RSS);
    expect(v?.flat, v?.value).to.equal(true);
    const heap = verdictOf(samples(CI_7_MINUTES.rss, CI_7_MINUTES.heap), "heap used");
    expect(heap?.flat, heap?.value).to.equal(true);
    const leaking = CI_7_MINUTES.rss.map((mb, i) => mb + (5 * i) / 12);
    expect(verdictOf(samples(leaking, CI_7_MINUTES.heap), "RSS")?.flat).to.equal(false);
  });

  it("CI's 6.25-minute run is judged by its halves even when its last sample comes a whole interval early", function () {
    // .ci/run: npm run soak -- --minutes 6.25; samples every 5 s, so the last one may come up to 5 s (0.083 min) before
    // the end: 5.08 measured minutes at worst. A plain 6 could measure 4.92, and be judged by its peaks alone.
    const run = RUNS["CI of bf85be9"] ?? { rss: [], heap: [] };
    const s = samples(repeated(run.rss, 6.25, 0), repeated(run.heap, 6.25, 0)).filter((x) => x.t <= 6.25 - 1 / 12);
    expect(verdictOf(s, "RSS")?.what).to.equal(TREND.RSS);
    expect(verdictOf(s, "heap used")?.what).to.equal(TREND["heap used"]);
  });

  it(`the trend starts at ${TREND_MIN} measured minutes: just below, peaks are judged`, function () {
    const run = RUNS["CI of bf85be9"] ?? { rss: [], heap: [] };
    const at = (measured: number) => {
      const n = Math.round((1 + measured) * 12);
      const s = samples(repeated(run.rss, n / 12, 0), repeated(run.heap, n / 12, 0)).filter((x) => x.t <= 1 + measured);
      return verdictOf(s, "RSS")?.what;
    };
    expect(at(TREND_MIN)).to.equal(TREND.RSS);
    expect(at(TREND_MIN - 0.25)).to.equal("RSS (peak vs warm-up)");
  });
});
