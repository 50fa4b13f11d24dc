/**
 * Anomaly rules: pure functions over one identity's recent access events. Each returns a finding or null; the
 * detector decides when to run them and what to do with a finding. High-severity findings quarantine the identity.
 */

export type AccessAction = "me" | "list" | "get" | "create" | "update" | "delete" | "crl" | "other";

export interface AccessEvent {
  /** ms since epoch */
  time: number;
  source: string;
  action: AccessAction;
  status: number;
  recordId?: string;
  /** For list: whether the request continued a walk (had a cursor) and whether it reached the end. */
  list?: { cursor: boolean; end: boolean };
  /** For get: how long the record had not been written to. */
  recordAgeMs?: number;
}

/**
 * Rules over window counts (the server keeps them in the database: anomaly/shared-detector.ts; anomaly/detector.ts is the
 * in-memory reference); daily_reads runs on the database read counts (anomaly/read-rules.ts).
 */
export type WindowRuleName = "volume" | "bulk_read" | "id_guessing" | "list_walk" | "stale_access" | "many_sources";
export type RuleName = WindowRuleName | "daily_reads";
export type Severity = "medium" | "high";

export interface Finding {
  rule: RuleName;
  severity: Severity;
  value: number;
  threshold: number;
  message: string;
}

export interface Thresholds {
  /** Window the other rules look back over (ms). */
  windowMs: number;
  /** volume: requests in `volumeWindowMs` above max(volumeMin, volumeFactor x the identity's own baseline). */
  volumeWindowMs: number;
  volumeMin: number;
  volumeFactor: number;
  /** bulk_read (high): distinct records read within windowMs. */
  distinctRecords: number;
  /** id_guessing (high): 404 answers within notFoundWindowMs. */
  notFound: number;
  notFoundWindowMs: number;
  /** list_walk: list pages fetched with a cursor within windowMs. */
  listPages: number;
  /** stale_access: reads of records untouched for staleAgeMs, within windowMs. */
  staleAgeMs: number;
  staleRecords: number;
  /** many_sources: distinct source addresses within sourcesWindowMs. */
  sources: number;
  sourcesWindowMs: number;
  /**
   * daily_reads (high): distinct records read within dayWindowMs (rolling, in 24 steps) at or above
   * min(dayRecordsMax, max(dayRecordsMin, dayFactor x the identity's mean per day over the dayHistoryDays before)).
   */
  dayWindowMs: number;
  dayRecordsMin: number;
  dayFactor: number;
  dayHistoryDays: number;
  dayRecordsMax: number;
  /** The severity of each rule: high ones quarantine. */
  severity: Record<RuleName, Severity>;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  windowMs: 10 * 60_000,
  volumeWindowMs: 60_000,
  volumeMin: 600,
  volumeFactor: 10,
  distinctRecords: 200,
  notFound: 20,
  notFoundWindowMs: 60_000,
  listPages: 20,
  staleAgeMs: 180 * 86_400_000,
  staleRecords: 25,
  sources: 3,
  sourcesWindowMs: 5 * 60_000,
  // Reasoning for each default: docs/operations.md "Anomaly rules".
  dayWindowMs: 86_400_000,
  dayRecordsMin: 1000,
  dayFactor: 3,
  dayHistoryDays: 7,
  dayRecordsMax: 5000,
  severity: {
    volume: "medium",
    bulk_read: "high",
    id_guessing: "high",
    list_walk: "medium",
    stale_access: "medium",
    many_sources: "medium",
    daily_reads: "high",
  },
};

export interface RuleContext {
  now: number;
  /** The identity's usual request count per volumeWindowMs (0 when unknown). */
  baseline: number;
  t: Thresholds;
}

/** What the rules look at, computed in one pass over the window (the rules then only compare numbers). */
export interface WindowStats {
  volume: number;
  distinctReads: number;
  notFound: number;
  continuedPages: number;
  staleReads: number;
  sources: number;
}

export function summarize(events: readonly AccessEvent[], now: number, t: Thresholds): WindowStats {
  const reads = new Set<string>();
  const stale = new Set<string>();
  const sources = new Set<string>();
  let volume = 0;
  let notFound = 0;
  let continuedPages = 0;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as AccessEvent;
    const age = now - e.time;
    if (age >= t.windowMs && age >= t.volumeWindowMs && age >= t.sourcesWindowMs && age >= t.notFoundWindowMs) break;
    if (age < t.volumeWindowMs) volume++;
    if (age < t.notFoundWindowMs && e.status === 404) notFound++;
    if (age < t.sourcesWindowMs) sources.add(e.source);
    if (age < t.windowMs) {
      if (e.action === "get" && e.recordId) {
        if (e.status === 200) reads.add(e.recordId);
        if ((e.recordAgeMs ?? 0) >= t.staleAgeMs) stale.add(e.recordId);
      } else if (e.action === "list" && e.list?.cursor) {
        continuedPages++;
      }
    }
  }
  return { volume, distinctReads: reads.size, notFound, continuedPages, staleReads: stale.size, sources: sources.size };
}

type Rule = (s: WindowStats, c: RuleContext) => Omit<Finding, "rule" | "severity"> | null;

const volume: Rule = (s, { baseline, t }) => {
  const limit = Math.max(t.volumeMin, t.volumeFactor * baseline);
  return s.volume > limit
    ? {
        value: s.volume,
        threshold: limit,
        message: `${s.volume} requests in ${t.volumeWindowMs / 1000} s (usual: ${baseline.toFixed(0)})`,
      }
    : null;
};

const bulkRead: Rule = (s, { t }) =>
  s.distinctReads >= t.distinctRecords
    ? {
        value: s.distinctReads,
        threshold: t.distinctRecords,
        message: `${s.distinctReads} distinct records read in ${t.windowMs / 1000} s`,
      }
    : null;

const idGuessing: Rule = (s, { t }) =>
  s.notFound >= t.notFound
    ? {
        value: s.notFound,
        threshold: t.notFound,
        message: `${s.notFound} requests for records that do not exist in ${t.notFoundWindowMs / 1000} s`,
      }
    : null;

const listWalk: Rule = (s, { t }) =>
  s.continuedPages >= t.listPages
    ? {
        value: s.continuedPages,
        threshold: t.listPages,
        message: `paged through the record list (${s.continuedPages} continued pages in ${t.windowMs / 1000} s)`,
      }
    : null;

const staleAccess: Rule = (s, { t }) =>
  s.staleReads >= t.staleRecords
    ? {
        value: s.staleReads,
        threshold: t.staleRecords,
        message: `${s.staleReads} records untouched for ${Math.round(t.staleAgeMs / 86_400_000)} days read in ${t.windowMs / 1000} s`,
      }
    : null;

const manySources: Rule = (s, { t }) =>
  s.sources >= t.sources
    ? {
        value: s.sources,
        threshold: t.sources,
        message: `used from ${s.sources} addresses within ${t.sourcesWindowMs / 1000} s`,
      }
    : null;

export const RULES: Record<WindowRuleName, Rule> = {
  volume,
  bulk_read: bulkRead,
  id_guessing: idGuessing,
  list_walk: listWalk,
  stale_access: staleAccess,
  many_sources: manySources,
};

/** Runs every rule over the window (events in time order); returns what fired. */
export function evaluate(events: readonly AccessEvent[], c: RuleContext): Finding[] {
  return evaluateStats(summarize(events, c.now, c.t), c);
}

/** Runs every rule over already-summarised counts (the detector keeps them incrementally). */
export function evaluateStats(stats: WindowStats, c: RuleContext): Finding[] {
  const out: Finding[] = [];
  for (const [name, rule] of Object.entries(RULES) as [WindowRuleName, Rule][]) {
    const f = rule(stats, c);
    if (f) out.push({ rule: name, severity: c.t.severity[name], ...f });
  }
  return out;
}

/** Merges a partial override (e.g. from a JSON config file) onto the defaults, refusing unknown or bad values. */
export function thresholdsFrom(partial: unknown, base: Thresholds = DEFAULT_THRESHOLDS): Thresholds {
  if (partial === undefined || partial === null) return base;
  if (typeof partial !== "object" || Array.isArray(partial))
    throw new TypeError("anomaly thresholds must be a JSON object");
  const out: Thresholds = { ...base, severity: { ...base.severity } };
  for (const [k, v] of Object.entries(partial as Record<string, unknown>)) {
    if (k === "severity") {
      if (typeof v !== "object" || v === null) throw new TypeError("severity must be an object");
      for (const [rule, sev] of Object.entries(v as Record<string, unknown>)) {
        if (!Object.hasOwn(base.severity, rule) || (sev !== "medium" && sev !== "high"))
          throw new TypeError(`severity.${rule} must be "medium" or "high" for a known rule`);
        out.severity[rule as RuleName] = sev;
      }
    } else if (Object.hasOwn(base, k)) {
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new TypeError(`${k} must be a positive number`);
      (out as unknown as Record<string, number>)[k] = v;
    } else {
      throw new TypeError(`unknown anomaly threshold "${k}"`);
    }
  }
  if (out.dayRecordsMax < out.dayRecordsMin) throw new TypeError("dayRecordsMax must be at least dayRecordsMin");
  if (!Number.isInteger(out.dayHistoryDays)) throw new TypeError("dayHistoryDays must be a whole number");
  return out;
}
