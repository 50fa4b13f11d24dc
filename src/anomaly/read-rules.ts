/**
 * The rules on distinct records read, evaluated when a read is admitted (server/middleware/admission.ts) over counts kept in the
 * database (store/read-counters.ts), so that every node and every restart sees one count. Pure: counts in, findings
 * out.
 *
 * - bulk_read: distinct records read within `windowMs` (the same rule the in-memory detector runs at completion;
 *   here it runs before the record is sent, so a concurrent burst cannot pass it).
 * - daily_reads: distinct records read within `dayWindowMs`, against the identity's own history: the limit is
 *   min(dayRecordsMax, max(dayRecordsMin, dayFactor x its mean per day over the dayHistoryDays before)).
 */
import type { Finding, Thresholds } from "./rules.js";

export interface ReadCounts {
  /** Distinct records read in the short window, this read included; null when this read was not a new one there. */
  window: number | null;
  /** The same over the day window. */
  day: number | null;
  /** The identity's mean distinct records per day over the dayHistoryDays before the day window. */
  dayBaseline: number;
}

export function dailyLimit(baseline: number, t: Thresholds): number {
  return Math.min(t.dayRecordsMax, Math.max(t.dayRecordsMin, Math.ceil(t.dayFactor * baseline)));
}

export function readFindings(c: ReadCounts, t: Thresholds): Finding[] {
  const out: Finding[] = [];
  if (c.window !== null && c.window >= t.distinctRecords) {
    out.push({
      rule: "bulk_read",
      severity: t.severity.bulk_read,
      value: c.window,
      threshold: t.distinctRecords,
      message: `${c.window} distinct records read in ${t.windowMs / 1000} s`,
    });
  }
  if (c.day !== null) {
    const limit = dailyLimit(c.dayBaseline, t);
    if (c.day >= limit) {
      const hours = Math.round(t.dayWindowMs / 3_600_000);
      out.push({
        rule: "daily_reads",
        severity: t.severity.daily_reads,
        value: c.day,
        threshold: limit,
        message: `${c.day} distinct records read in ${hours} h (usual: ${c.dayBaseline.toFixed(0)} a day)`,
      });
    }
  }
  return out;
}
