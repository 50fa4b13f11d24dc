/**
 * The soak's verdicts (bench/soak-sampler.ts), on sample series: the heap's floor must read flat for a GC sawtooth
 * without growth, and as growth for a leak. The first series is CI's 2-minute soak of 2026-12-02 18:14 UTC (after its
 * 1-minute warm-up), which the verdict then read as 6.4 MB/min of growth (floors of thirds: 24.0 -> 28.3 MB) while
 * its lowest samples stayed at 24-25 MB throughout. The second is CI's soak of bf85be9 (2026-12-03): RSS followed a
 * full collection down by 35 MB in the measured minute, and a least-squares slope read that sawtooth as 10.4 MB/min
 * of growth (bound 10) while its floors went 106.6 -> 104.7 MB.
 */
import { expect } from "chai";
import { verdicts } from "../bench/soak-sampler.js";
import type { Sample } from "../bench/soak-sampler.js";

const CI_HEAP_MB = [42.3, 24.0, 31.7, 25.2, 35.0, 32.3, 28.4, 27.1, 24.4, 32.8, 28.3, 35.4, 34.4];

const CI_RSS_MB = [106.6, 110.7, 112.7, 115.2, 119.4, 119.4, 119.5, 120.9, 128.5, 134.5, 135.1, 104.7, 110.1];

function series(heap: readonly number[], rss: readonly number[] = heap.map(() => 138)): Sample[] {
  return heap.map((heapMb, i) => ({
    t: 1 + i / 12,
    rssMb: rss[i] as number,
    fds: 39,
    heapMb,
    loopP99Ms: 15,
    p99Ms: 50,
    ops: 124,
  }));
}

const heapVerdict = (heap: readonly number[]) => verdicts(series(heap), 1).find((v) => v.what === "heap used (floor)");

describe("soak verdicts: the heap's floor", function () {
  it("CI's sawtooth without growth reads flat", function () {
    expect(heapVerdict(CI_HEAP_MB)?.flat, heapVerdict(CI_HEAP_MB)?.value).to.equal(true);
  });

  it("the same sawtooth on a floor rising 12 MB a minute reads as growth", function () {
    const leaking = CI_HEAP_MB.map((mb, i) => mb + i);
    expect(heapVerdict(leaking)?.flat, heapVerdict(leaking)?.value).to.equal(false);
  });
});

const rssVerdict = (rss: readonly number[]) =>
  verdicts(series(CI_HEAP_MB, rss), 1).find((v) => v.what === "RSS (floor)");

describe("soak verdicts: RSS's floor", function () {
  it("CI's RSS sawtooth without growth reads flat", function () {
    expect(rssVerdict(CI_RSS_MB)?.flat, rssVerdict(CI_RSS_MB)?.value).to.equal(true);
  });

  it("the same sawtooth on a floor rising 24 MB a minute reads as growth", function () {
    const leaking = CI_RSS_MB.map((mb, i) => mb + 2 * i);
    expect(rssVerdict(leaking)?.flat, rssVerdict(leaking)?.value).to.equal(false);
  });

  it("a steady climb with no collection reads as growth", function () {
    const climbing = CI_RSS_MB.map((_, i) => 120 + 1.5 * i);
    expect(rssVerdict(climbing)?.flat, rssVerdict(climbing)?.value).to.equal(false);
  });
});
