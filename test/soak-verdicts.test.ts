/**
 * The soak's verdicts (bench/soak-sampler.ts), on sample series. RSS and heap used are sawtooths of V8's full
 * collections (about a minute apart in CI): a run that measures 6 minutes or more is judged by the floors of its
 * halves, flat for the sawtooth and growth for a leak on top of it; a shorter one, such as CI's 2 minutes, only by
 * ceilings on the peaks, because its one measured minute may hold a single ramp. The series are real:
 * - heap: CI's soak of 2026-12-02 18:14 UTC after its warm-up, read as 6.4 MB/min of growth by floors of thirds while
 *   its lowest samples stayed at 24-25 MB; and a local run of 2026-12-03 whose heap floor read 8.2 MB/min by halves
 *   (22.3 -> 26.4 MB: the ramp after a full collection at 0.83 min);
 * - RSS: CI's soaks of bf85be9 and c2436c7 (2026-12-03), whole runs: a least-squares slope read the first as
 *   10.4 MB/min of growth, the floors of halves the second as 34.4 MB/min, while neither run's peak rose above its
 *   warm-up's.
 */
import { expect } from "chai";
import { verdicts } from "../bench/soak-sampler.js";
import type { Sample } from "../bench/soak-sampler.js";

/** Heap used every 5 s over the measured minute (from 1.00 min). */
const HEAP_MB: Record<string, number[]> = {
  "CI of 2026-12-02": [42.3, 24.0, 31.7, 25.2, 35.0, 32.3, 28.4, 27.1, 24.4, 32.8, 28.3, 35.4, 34.4],
  "a local run of 2026-12-03": [26.0, 22.9, 25.3, 30.8, 22.3, 30.6, 29.8, 26.4, 34.6, 28.8, 32.5, 38.8, 35.5],
};

/** RSS every 5 s from 0.08 min, warm-up (the first minute) included. */
const RSS_MB: Record<string, number[]> = {
  "CI of bf85be9": [
    119.6, 127.3, 127.8, 130.7, 132.2, 133.2, 134.6, 135.9, 137.3, 139.1, 141.4, 106.6, 110.7, 112.7, 115.2, 119.4,
    119.4, 119.5, 120.9, 128.5, 134.5, 135.1, 104.7, 110.1,
  ],
  "CI of c2436c7": [
    115.8, 123.4, 125.2, 127.5, 128.6, 129.0, 131.6, 133.7, 134.6, 135.8, 137.2, 102.0, 106.4, 107.4, 112.6, 117.1,
    117.8, 119.1, 119.2, 133.7, 134.5, 134.9, 134.1, 135.4,
  ],
};

const steady = { rssMb: 138, fds: 39, heapMb: 25, loopP99Ms: 15, p99Ms: 50, ops: 124 };

/** Samples every 5 s from `from` minutes, with one measure taken from `values`. */
function run(field: "heapMb" | "rssMb", values: readonly number[], from: number): Sample[] {
  return values.map((v, i) => ({ ...steady, t: from + i / 12, [field]: v }));
}

const verdict = (samples: Sample[], what: string) => verdicts(samples, 1).find((v) => v.what.startsWith(what));

/** Ten measured minutes (after one of warm-up) repeating `minute`, plus `mbPerMin` of growth. */
function tenMinutes(minute: readonly number[], mbPerMin: number): number[] {
  return Array.from({ length: 132 }, (_, i) => (minute[i % minute.length] as number) + (mbPerMin * i) / 12);
}

for (const [what, field, series, from, leak, ceiling] of [
  ["heap used", "heapMb", HEAP_MB, 1, 2.5, 128],
  ["RSS", "rssMb", RSS_MB, 1 / 12, 6, 256],
] as const) {
  describe(`soak verdicts: ${what}`, function () {
    for (const [name, values] of Object.entries(series)) {
      it(`${name}: a 2-minute run, judged by its peak only, reads flat`, function () {
        const v = verdict(run(field, values, from), what);
        expect(v?.what).to.equal(`${what} (peak)`);
        expect(v?.flat, v?.value).to.equal(true);
      });

      it(`${name}: the same 2 minutes climbing past ${ceiling} MB read as growth`, function () {
        const v = verdict(
          run(
            field,
            values.map((mb, i) => mb + (ceiling / values.length) * i),
            from,
          ),
          what,
        );
        expect(v?.flat, v?.value).to.equal(false);
      });

      const measured = values.slice(-12);
      it(`${name}: ten minutes of that sawtooth read flat by their floors`, function () {
        const v = verdict(run(field, tenMinutes(measured, 0), 0), what);
        expect(v?.what).to.equal(`${what} (floor)`);
        expect(v?.flat, v?.value).to.equal(true);
      });

      it(`${name}: the same ten minutes on a floor rising ${leak} MB a minute read as growth`, function () {
        const v = verdict(run(field, tenMinutes(measured, leak), 0), what);
        expect(v?.what).to.equal(`${what} (floor)`);
        expect(v?.flat, v?.value).to.equal(false);
      });
    }
  });
}
