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

export type RuleName = "volume" | "bulk_read" | "id_guessing" | "list_walk" | "stale_access" | "many_sources";
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
  severity: { volume: "medium", bulk_read: "high", id_guessing: "high", list_walk: "medium", stale_access: "medium", many_sources: "medium" },
};

export interface RuleContext {
  now: number;
  /** The identity's usual request count per volumeWindowMs (0 when unknown). */
  baseline: number;
  t: Thresholds;
}

type Rule = (events: readonly AccessEvent[], c: RuleContext) => Omit<Finding, "rule" | "severity"> | null;

function recent(events: readonly AccessEvent[], now: number, ms: number): AccessEvent[] {
  const from = now - ms;
  return events.filter((e) => e.time > from);
}

const volume: Rule = (events, { now, baseline, t }) => {
  const n = recent(events, now, t.volumeWindowMs).length;
  const limit = Math.max(t.volumeMin, t.volumeFactor * baseline);
  return n > limit ? { value: n, threshold: limit, message: `${n} requests in ${t.volumeWindowMs / 1000} s (usual: ${baseline.toFixed(0)})` } : null;
};

const bulkRead: Rule = (events, { now, t }) => {
  const ids = new Set<string>();
  for (const e of recent(events, now, t.windowMs)) if (e.action === "get" && e.status === 200 && e.recordId) ids.add(e.recordId);
  return ids.size >= t.distinctRecords ? { value: ids.size, threshold: t.distinctRecords, message: `${ids.size} distinct records read in ${t.windowMs / 1000} s` } : null;
};

const idGuessing: Rule = (events, { now, t }) => {
  const n = recent(events, now, t.notFoundWindowMs).filter((e) => e.status === 404).length;
  return n >= t.notFound ? { value: n, threshold: t.notFound, message: `${n} requests for records that do not exist in ${t.notFoundWindowMs / 1000} s` } : null;
};

const listWalk: Rule = (events, { now, t }) => {
  const n = recent(events, now, t.windowMs).filter((e) => e.action === "list" && e.list?.cursor).length;
  return n >= t.listPages ? { value: n, threshold: t.listPages, message: `paged through the record list (${n} continued pages in ${t.windowMs / 1000} s)` } : null;
};

const staleAccess: Rule = (events, { now, t }) => {
  const ids = new Set<string>();
  for (const e of recent(events, now, t.windowMs)) if (e.action === "get" && e.recordId && (e.recordAgeMs ?? 0) >= t.staleAgeMs) ids.add(e.recordId);
  return ids.size >= t.staleRecords ? { value: ids.size, threshold: t.staleRecords, message: `${ids.size} records untouched for ${Math.round(t.staleAgeMs / 86_400_000)} days read in ${t.windowMs / 1000} s` } : null;
};

const manySources: Rule = (events, { now, t }) => {
  const sources = new Set(recent(events, now, t.sourcesWindowMs).map((e) => e.source));
  return sources.size >= t.sources ? { value: sources.size, threshold: t.sources, message: `used from ${sources.size} addresses within ${t.sourcesWindowMs / 1000} s` } : null;
};

export const RULES: Record<RuleName, Rule> = {
  volume,
  bulk_read: bulkRead,
  id_guessing: idGuessing,
  list_walk: listWalk,
  stale_access: staleAccess,
  many_sources: manySources,
};

/** Runs every rule; returns what fired. */
export function evaluate(events: readonly AccessEvent[], c: RuleContext): Finding[] {
  const out: Finding[] = [];
  for (const [name, rule] of Object.entries(RULES) as [RuleName, Rule][]) {
    const f = rule(events, c);
    if (f) out.push({ rule: name, severity: c.t.severity[name], ...f });
  }
  return out;
}

/** Merges a partial override (e.g. from a JSON config file) onto the defaults, refusing unknown or bad values. */
export function thresholdsFrom(partial: unknown, base: Thresholds = DEFAULT_THRESHOLDS): Thresholds {
  if (partial === undefined || partial === null) return base;
  if (typeof partial !== "object" || Array.isArray(partial)) throw new TypeError("anomaly thresholds must be a JSON object");
  const out: Thresholds = { ...base, severity: { ...base.severity } };
  for (const [k, v] of Object.entries(partial as Record<string, unknown>)) {
    if (k === "severity") {
      if (typeof v !== "object" || v === null) throw new TypeError("severity must be an object");
      for (const [rule, sev] of Object.entries(v as Record<string, unknown>)) {
        if (!(rule in RULES) || (sev !== "medium" && sev !== "high")) throw new TypeError(`severity.${rule} must be "medium" or "high" for a known rule`);
        out.severity[rule as RuleName] = sev;
      }
    } else if (k in base && k !== "severity") {
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new TypeError(`${k} must be a positive number`);
      (out as unknown as Record<string, number>)[k] = v;
    } else {
      throw new TypeError(`unknown anomaly threshold "${k}"`);
    }
  }
  return out;
}
