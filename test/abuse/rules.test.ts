/** The anomaly rules and the detector, without a server: scripted event streams with a fake clock. */
import { expect } from "chai";
import fc from "fast-check";
import { DEFAULT_THRESHOLDS, evaluate, thresholdsFrom } from "../../src/anomaly/rules.js";
import type { AccessEvent, Thresholds } from "../../src/anomaly/rules.js";
import { Detector } from "../../src/anomaly/detector.js";

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const MIN = 60_000;
const t: Thresholds = DEFAULT_THRESHOLDS;

function get(time: number, recordId: string, extra: Partial<AccessEvent> = {}): AccessEvent {
  return { time, source: "10.0.0.1", action: "get", status: 200, recordId, ...extra };
}

function rulesFired(events: AccessEvent[], now: number, baseline = 0): string[] {
  return evaluate(events, { now, baseline, t }).map((f) => f.rule);
}

describe("abuse: rules", function () {
  it("a working day at human rates fires nothing", function () {
    const events: AccessEvent[] = [];
    for (let i = 0; i < 8 * 60; i++) {
      const time = T0 + i * MIN;
      events.push(
        i % 10 === 0
          ? { time, source: "10.0.0.1", action: "list", status: 200, list: { cursor: false, end: true } }
          : get(time, `r${i % 30}`),
      );
      expect(rulesFired(events, time, 1), `minute ${i}`).to.deep.equal([]);
    }
  });

  it("bulk_read: the 200th distinct record read within 10 minutes fires, high severity", function () {
    const events = Array.from({ length: 199 }, (_, i) => get(T0 + i * 100, `r${i}`));
    expect(rulesFired(events, T0 + 19_900)).to.not.include("bulk_read");
    events.push(get(T0 + 19_900, "r199"));
    const f = evaluate(events, { now: T0 + 19_900, baseline: 0, t }).find((x) => x.rule === "bulk_read");
    expect(f?.severity).to.equal("high");
    expect(f?.value).to.equal(200);
  });

  it("bulk_read counts distinct records: re-reading one record 500 times is not a bulk read", function () {
    const events = Array.from({ length: 500 }, (_, i) => get(T0 + i * 1000, "same"));
    expect(rulesFired(events, T0 + 500_000)).to.not.include("bulk_read");
  });

  it("id_guessing: 20 not-found answers within a minute fire, 19 do not", function () {
    const misses = (n: number) => Array.from({ length: n }, (_, i) => get(T0 + i * 1000, `guess${i}`, { status: 404 }));
    expect(rulesFired(misses(19), T0 + 19_000)).to.not.include("id_guessing");
    expect(rulesFired(misses(20), T0 + 20_000)).to.include("id_guessing");
    // The same 20 misses spread over 20 minutes are typos, not guessing.
    const slow = Array.from({ length: 20 }, (_, i) => get(T0 + i * MIN, `g${i}`, { status: 404 }));
    expect(rulesFired(slow, T0 + 20 * MIN)).to.not.include("id_guessing");
  });

  it("list_walk: 20 continued pages within the window fire", function () {
    const pages = Array.from({ length: 20 }, (_, i): AccessEvent => ({
      time: T0 + i * 500,
      source: "10.0.0.1",
      action: "list",
      status: 200,
      list: { cursor: i > 0, end: false },
    }));
    expect(rulesFired(pages, T0 + 10_000)).to.not.include("list_walk");
    pages.push({
      time: T0 + 10_500,
      source: "10.0.0.1",
      action: "list",
      status: 200,
      list: { cursor: true, end: true },
    });
    expect(rulesFired(pages, T0 + 10_500)).to.include("list_walk");
  });

  it("stale_access: 25 records untouched for half a year, read within the window, fire", function () {
    const old = 200 * 86_400_000;
    const events = Array.from({ length: 25 }, (_, i) => get(T0 + i * 1000, `old${i}`, { recordAgeMs: old }));
    expect(rulesFired(events, T0 + 25_000)).to.include("stale_access");
    const fresh = Array.from({ length: 25 }, (_, i) => get(T0 + i * 1000, `new${i}`, { recordAgeMs: 86_400_000 }));
    expect(rulesFired(fresh, T0 + 25_000)).to.not.include("stale_access");
  });

  it("many_sources: one identity from three addresses within five minutes fires", function () {
    const events = ["10.0.0.1", "10.0.0.2", "192.0.2.7"].map((source, i) => get(T0 + i * 1000, "r", { source }));
    expect(rulesFired(events.slice(0, 2), T0 + 2000)).to.not.include("many_sources");
    expect(rulesFired(events, T0 + 3000)).to.include("many_sources");
  });

  it("volume: far above the identity's own baseline fires, the usual rate does not", function () {
    const burst = Array.from({ length: 700 }, (_, i): AccessEvent => ({
      time: T0 + i * 50,
      source: "10.0.0.1",
      action: "me",
      status: 200,
    }));
    expect(rulesFired(burst, T0 + 35_000, 10)).to.include("volume"); // 700 > max(600, 10 x 10)
    expect(rulesFired(burst, T0 + 35_000, 100)).to.not.include("volume"); // a heavy but usual client: 700 < 10 x 100
  });

  it("thresholds are configurable, and bad overrides are refused with the reason", function () {
    const custom = thresholdsFrom({ distinctRecords: 5, severity: { list_walk: "high" } });
    expect(custom.distinctRecords).to.equal(5);
    expect(custom.severity.list_walk).to.equal("high");
    expect(custom.notFound).to.equal(DEFAULT_THRESHOLDS.notFound);
    expect(() => thresholdsFrom({ distinctRecord: 5 })).to.throw(/unknown anomaly threshold "distinctRecord"/);
    expect(() => thresholdsFrom({ notFound: -1 })).to.throw(/positive number/);
    expect(() => thresholdsFrom({ severity: { bulk_read: "critical" } })).to.throw(/medium" or "high/);
  });
});

describe("abuse: detector", function () {
  it("an exfiltration (list, then fetch every record as fast as possible) is flagged on the read that crosses the threshold", function () {
    const d = new Detector(t);
    let high: number | undefined;
    d.observe("mallory", {
      time: T0,
      source: "10.0.0.9",
      action: "list",
      status: 200,
      list: { cursor: false, end: false },
    });
    for (let i = 0; i < 2000 && high === undefined; i++) {
      const found = d.observe("mallory", get(T0 + 1 + i * 5, `rec${i}`));
      if (found.some((f) => f.severity === "high")) high = i + 1;
    }
    expect(high, "never flagged").to.equal(t.distinctRecords);
  });

  it("cheap requests cannot push reads out of view: one distinct read per 26 requests at 20 req/s still trips bulk_read", function () {
    const d = new Detector(t);
    let distinct = 0;
    let flagged: number | undefined;
    for (let i = 0; i < 20 * 60 * 30 && flagged === undefined; i++) {
      const time = T0 + i * 50;
      const e: AccessEvent =
        i % 26 === 0 ? get(time, `rec${distinct++}`) : { time, source: "10.0.0.1", action: "me", status: 200 };
      if (d.observe("sly", e).some((f) => f.rule === "bulk_read")) flagged = distinct;
    }
    expect(flagged, "never flagged").to.equal(t.distinctRecords);
  });

  it("a finding is reported once per window, not on every later request", function () {
    const d = new Detector(t);
    let reports = 0;
    for (let i = 0; i < 100; i++)
      reports += d
        .observe("eve", get(T0 + i * 10, `x${i}`, { status: 404 }))
        .filter((f) => f.rule === "id_guessing").length;
    expect(reports).to.equal(1);
  });

  it("reset forgets an identity's history (after an admin release)", function () {
    const d = new Detector(t);
    for (let i = 0; i < 19; i++) d.observe("eve", get(T0 + i, `y${i}`, { status: 404 }));
    d.reset("eve");
    expect(d.observe("eve", get(T0 + 20, "y19", { status: 404 }))).to.deep.equal([]);
  });

  it("property: whatever the stream, the detector never throws and reports only findings over their threshold", function () {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dt: fc.integer({ min: 0, max: 120_000 }),
            status: fc.constantFrom(200, 404, 403),
            id: fc.integer({ min: 0, max: 50 }),
            src: fc.integer({ min: 0, max: 3 }),
          }),
          { maxLength: 300 },
        ),
        (steps) => {
          const d = new Detector(t);
          let now = T0;
          for (const s of steps) {
            now += s.dt;
            const out = d.observe("p", get(now, `r${s.id}`, { status: s.status, source: `10.0.0.${s.src}` }));
            for (const f of out) expect(f.value, f.rule).to.be.at.least(f.threshold);
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
