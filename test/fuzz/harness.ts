/**
 * The fuzzing harness shared by the short run (test/fuzz/fuzz.test.ts, in `npm test`) and the long run
 * (test/fuzz/run.ts, `npm run fuzz -- --minutes N`). A target turns generated specs into bytes (`materialize`, when
 * the samples and the server exist) and judges those bytes (`check`): every case is bytes, so that a failing one is
 * saved as test/fuzz/regressions/<target>-<sha256 prefix>.bin with a JSON note, and replayed by every short run.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { CertvaultError } from "../../src/errors/index.js";
import type { World } from "./world.js";

export const REGRESSIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "regressions");

export interface FuzzTarget<I = unknown> {
  /** File-safe name; regression files start with it. */
  readonly name: string;
  readonly arbitrary: fc.Arbitrary<I>;
  /** Inputs for one short run (sized so that all targets together stay well under 60 s). */
  readonly shortRuns: number;
  materialize(world: World, spec: I): Promise<Uint8Array> | Uint8Array;
  /** Throws a PropertyViolation when the bytes break a property. */
  check(world: World, input: Uint8Array): Promise<void>;
}

/** A property broke: the message says which, the cause holds the offending error if any. */
export class PropertyViolation extends Error {
  override name = "PropertyViolation";
}

const SNAKE = /^[a-z][a-z0-9_]*$/;

/** Whether `err` is a refusal the property allows: a CertvaultError with a stable snake_case code, or `also`. */
export function assertTyped(
  err: unknown,
  where: string,
  also: readonly (abstract new (...a: never[]) => Error)[] = [],
): void {
  if (also.some((cls) => err instanceof cls)) return;
  if (!(err instanceof CertvaultError)) {
    const e = err as { name?: string; message?: string } | undefined;
    throw new PropertyViolation(`${where}: untyped ${e?.name ?? typeof err}: ${e?.message ?? String(err)}`, {
      cause: err,
    });
  }
  if (!SNAKE.test(err.code))
    throw new PropertyViolation(`${where}: code "${err.code}" is not snake_case`, { cause: err });
}

/** Runs `fn`; a thrown refusal must be typed. Returns the value, or undefined when refused. */
export async function refusedOr<T>(
  where: string,
  fn: () => T | Promise<T>,
  also: readonly (abstract new (...a: never[]) => Error)[] = [],
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    assertTyped(err, where, also);
    return undefined;
  }
}

/** Unhandled rejections and uncaught exceptions while a target runs are failures of the case that was running. */
export class ProcessWatch {
  readonly seen: string[] = [];
  private readonly onRejection = (reason: unknown): void =>
    void this.seen.push(`unhandled rejection: ${String((reason as Error)?.stack ?? reason)}`);
  private readonly onException = (err: Error): void =>
    void this.seen.push(`uncaught exception: ${err.stack ?? err.message}`);
  start(): void {
    process.on("unhandledRejection", this.onRejection);
    process.on("uncaughtException", this.onException);
  }
  stop(): void {
    process.off("unhandledRejection", this.onRejection);
    process.off("uncaughtException", this.onException);
  }
  /** Throws if anything was seen since the last call (after letting pending callbacks run once). */
  async drain(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    const seen = this.seen.splice(0);
    if (seen.length > 0) throw new PropertyViolation(seen.join("\n"));
  }
}

export interface RunStats {
  target: string;
  tried: number;
  failures: { file: string; message: string }[];
}

/** One fast-check run of a target: fixed `numRuns`, or as many as fit in `timeLimitMs`; never throws. */
export async function runTarget(
  target: FuzzTarget,
  world: World,
  opts: { seed: number; numRuns?: number; timeLimitMs?: number },
): Promise<{ tried: number; failure?: { input: Uint8Array; error: unknown; seed: number; path: string } }> {
  let tried = 0;
  let lastBytes: Uint8Array = new Uint8Array(0);
  const watch = new ProcessWatch();
  watch.start();
  try {
    const property = fc.asyncProperty(target.arbitrary, async (spec) => {
      tried++;
      lastBytes = await target.materialize(world, spec);
      const failing = lastBytes;
      try {
        await target.check(world, failing);
        await watch.drain();
      } catch (err) {
        failingBytes.set(err as object, failing);
        throw err;
      }
    });
    const failingBytes = new WeakMap<object, Uint8Array>();
    const details = await fc.check(property, {
      seed: opts.seed,
      numRuns: opts.numRuns ?? Number.MAX_SAFE_INTEGER,
      ...(opts.timeLimitMs ? { interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false } : {}),
    });
    if (!details.failed || details.errorInstance === undefined) return { tried };
    const err = details.errorInstance;
    const input = (typeof err === "object" && err !== null ? failingBytes.get(err) : undefined) ?? lastBytes;
    return { tried, failure: { input, error: err, seed: details.seed, path: details.counterexamplePath ?? "" } };
  } finally {
    watch.stop();
  }
}

export interface RegressionNote {
  target: string;
  found: string;
  seed: number;
  path: string;
  error: string;
}

/** Saves a failing input as <target>-<sha256 prefix>.bin plus a .json note; returns the .bin path. */
export function saveRegression(
  target: string,
  input: Uint8Array,
  note: Omit<RegressionNote, "target" | "found">,
): string {
  mkdirSync(REGRESSIONS_DIR, { recursive: true });
  const name = `${target}-${createHash("sha256").update(input).digest("hex").slice(0, 16)}`;
  const bin = join(REGRESSIONS_DIR, `${name}.bin`);
  writeFileSync(bin, input);
  const full: RegressionNote = { target, found: new Date().toISOString(), ...note };
  writeFileSync(join(REGRESSIONS_DIR, `${name}.json`), JSON.stringify(full, null, 2) + "\n");
  return bin;
}

/** Every saved regression case: its file name, target and bytes. */
export function loadRegressions(): { file: string; target: string; input: Uint8Array }[] {
  if (!existsSync(REGRESSIONS_DIR)) return [];
  return readdirSync(REGRESSIONS_DIR)
    .filter((f) => f.endsWith(".bin"))
    .sort()
    .map((f) => {
      const noteFile = join(REGRESSIONS_DIR, f.replace(/\.bin$/, ".json"));
      const target = existsSync(noteFile)
        ? (JSON.parse(readFileSync(noteFile, "utf8")) as RegressionNote).target
        : f.replace(/-[0-9a-f]{16}\.bin$/, "");
      return { file: f, target, input: new Uint8Array(readFileSync(join(REGRESSIONS_DIR, f))) };
    });
}

/** One line about an error, for notes and reports (its first stack frame too, to tell two bugs apart). */
export function describeError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { stack?: string } } | undefined;
  const frame = /\n\s+at .*/.exec(e?.cause?.stack ?? "")?.[0]?.trim();
  return `${e?.name ?? "?"}: ${e?.message ?? String(err)}${frame ? ` (${frame})` : ""}`;
}
