/**
 * Issue 17's table: one line per target with its baseline, the product, the ratio, the target and whether it is met.
 * Ratio rows collect one (product, baseline) pair per run, both measured in that run; the ratio printed is the median
 * of the per-run ratios (so a run where the host slowed everything keeps its own ratio), the figures beside it are
 * the medians of each side. Absolute rows (memory) compare the median with a ceiling.
 */
import { median } from "./stats.js";

interface RatioRow {
  kind: "ratio";
  name: string;
  baseName: string;
  unit: string;
  /** The target as a fraction of the baseline (0.8 = 80 %; 3 = 3x); 0: no target (a ceiling shown beside one). */
  atLeast: number;
  times: boolean;
  /** What the target column says of a row without a target: "ceiling" (default) or "breakdown" (a part of a row). */
  role: string;
  pairs: { product: number; base: number }[];
  note: string;
}

interface CeilingRow {
  kind: "ceiling";
  name: string;
  unit: string;
  below: number;
  values: number[];
  note: string;
}

export class Targets {
  private readonly rows = new Map<string, RatioRow | CeilingRow>();

  /** Declares a ratio row (in print order); `times`: print the ratio as "Nx" (default: from 1.5x up), else as %. */
  ratio(
    name: string,
    baseName: string,
    unit: string,
    atLeast: number,
    opts: { times?: boolean; role?: "ceiling" | "breakdown" } = {},
  ): void {
    const times = opts.times ?? atLeast >= 1.5;
    if (this.rows.has(name)) throw new Error(`target row "${name}" declared twice`);
    const role = opts.role ?? "ceiling";
    this.rows.set(name, { kind: "ratio", name, baseName, unit, atLeast, times, role, pairs: [], note: "" });
  }

  /** Declares an absolute row: met when the median is below `below`. */
  ceiling(name: string, unit: string, below: number): void {
    if (this.rows.has(name)) throw new Error(`target row "${name}" declared twice`);
    this.rows.set(name, { kind: "ceiling", name, unit, below, values: [], note: "" });
  }

  /** A remark printed at the end of row `name` (how else it was measured, what limited it). */
  note(name: string, note: string): void {
    const row = this.rows.get(name);
    if (row) row.note = note;
  }

  /** One run's figures for row `name`. */
  add(name: string, product: number, base?: number): void {
    const row = this.rows.get(name);
    if (!row) throw new Error(`no target row "${name}"`);
    if (row.kind === "ratio") row.pairs.push({ product, base: base ?? 0 });
    else row.values.push(product);
  }

  print(title: string): void {
    const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));
    const lines: string[][] = [["row", "baseline", "product", "ratio", "target", "met?", "note"]];
    for (const row of this.rows.values()) {
      if (row.kind === "ratio") {
        const ok = row.pairs.filter((p) => p.base > 0);
        if (ok.length === 0) {
          lines.push([row.name, "-", "-", "-", "", "not measured", row.note]);
          continue;
        }
        const ratio = median(ok.map((p) => p.product / p.base));
        const target =
          row.atLeast === 0
            ? `(${row.role})`
            : row.times
              ? `>= ${row.atLeast}x`
              : `>= ${Math.round(100 * row.atLeast)} %`;
        lines.push([
          row.name,
          `${fmt(median(ok.map((p) => p.base)))} ${row.unit} (${row.baseName})`,
          `${fmt(median(ok.map((p) => p.product)))} ${row.unit}`,
          row.times ? `${ratio.toFixed(2)}x` : `${(100 * ratio).toFixed(0)} %`,
          target,
          row.atLeast === 0 ? "" : ratio >= row.atLeast ? "yes" : "NO",
          row.note,
        ]);
      } else {
        if (row.values.length === 0) {
          lines.push([row.name, "-", "-", "-", `< ${row.below} ${row.unit}`, "not measured", row.note]);
          continue;
        }
        const v = median(row.values);
        lines.push([
          row.name,
          "",
          `${fmt(v)} ${row.unit}`,
          "",
          `< ${row.below} ${row.unit}`,
          v < row.below ? "yes" : "NO",
          row.note,
        ]);
      }
    }
    const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length)));
    console.log(`\n${title}`);
    for (const [n, l] of lines.entries()) {
      console.log(
        l
          .map((c, i) => (i === 0 || i === l.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
          .join(" | ")
          .trimEnd(),
      );
      if (n === 0) console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
    }
  }
}
