/** Medians and a side-by-side table: benches print ratios of product to bare baseline, measured in one run. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** `base` names the baseline column (default "bare"). */
export function table(
  rows: { name: string; unit: string; product: number; bare: number; base?: string; extra?: string }[],
): void {
  const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));
  for (const r of rows) {
    const base = r.base ?? "bare";
    const ratio = r.bare > 0 ? `${((100 * r.product) / r.bare).toFixed(0)}% of ${base}` : "";
    console.log(
      `${r.name.padEnd(44)} ${fmt(r.product).padStart(10)} ${r.unit.padEnd(6)} ${base} ${fmt(r.bare).padStart(10)}  ${ratio.padEnd(13)} ${r.extra ?? ""}`,
    );
  }
}
