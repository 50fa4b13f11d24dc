/**
 * The long fuzz run: `npm run fuzz -- --minutes N [--target NAME]... [--seed S]`. The same targets and properties as
 * the short run (test/fuzz/fuzz.test.ts), with time budgets split evenly over the targets and random seeds: after a
 * failure the target goes on with a new seed until its budget is spent. Every failing input (shrunk by fast-check)
 * is saved as test/fuzz/regressions/<target>-<sha256 prefix>.bin with a JSON note; the short run replays them all.
 * Prints the inputs tried per target and every failure; exits 1 when anything failed.
 */
import { parseArgs } from "node:util";
import { randomInt } from "node:crypto";
import { describeError, runTarget, saveRegression } from "./harness.js";
import type { RunStats } from "./harness.js";
import { TARGETS } from "./targets/index.js";
import { createWorld } from "./world.js";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "5" },
      target: { type: "string", multiple: true },
      seed: { type: "string" },
    },
  });
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) {
    console.error("usage: npm run fuzz -- --minutes N [--target NAME]... [--seed S]");
    return 2;
  }
  const chosen = values.target?.length ? TARGETS.filter((t) => values.target?.includes(t.name)) : TARGETS;
  if (chosen.length === 0) {
    console.error(`no such target; targets: ${TARGETS.map((t) => t.name).join(", ")}`);
    return 2;
  }
  const world = await createWorld();
  const stats: RunStats[] = [];
  try {
    const budgetMs = (minutes * 60_000) / chosen.length;
    for (const target of chosen) {
      const s: RunStats = { target: target.name, tried: 0, failures: [] };
      stats.push(s);
      const seen = new Set<string>();
      const end = Date.now() + budgetMs;
      while (Date.now() < end - 50) {
        const seed = values.seed !== undefined && s.tried === 0 ? Number(values.seed) : randomInt(2 ** 31);
        const r = await runTarget(target, world, { seed, timeLimitMs: end - Date.now() });
        s.tried += r.tried;
        if (!r.failure) continue;
        const message = describeError(r.failure.error);
        const file = saveRegression(target.name, r.failure.input, {
          seed: r.failure.seed,
          path: r.failure.path,
          error: message,
        });
        if (!seen.has(message))
          console.log(
            `FAIL ${target.name} seed=${r.failure.seed} path=${r.failure.path}\n  ${message}\n  saved ${file}`,
          );
        seen.add(message);
        s.failures.push({ file, message });
      }
      console.log(`${target.name}: ${s.tried} inputs, ${s.failures.length} failing (${seen.size} distinct)`);
    }
  } finally {
    await world.cleanup();
  }
  console.log("\ninputs tried per target:");
  for (const s of stats)
    console.log(`  ${s.target.padEnd(16)} ${String(s.tried).padStart(8)}  failures ${s.failures.length}`);
  return stats.some((s) => s.failures.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
