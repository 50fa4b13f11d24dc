/**
 * Independent judges beyond Node, openssl and curl (README: "optional judges"). Without one, the test that needs it
 * skips, saying why and what installs it; where CI requires it (CI set, or the judge's CERTVAULT_REQUIRE_* variable,
 * which .ci/run exports) the missing judge fails the test instead.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

interface Judge {
  /** What is missing, for the message. */
  what: string;
  /** The line that installs it (Debian). */
  install: string;
  requireVar: string;
  /** Undefined when the judge is available here. */
  missing: () => string | undefined;
}

/** Whether `tool` is an executable file in one of PATH's directories (no shell, no process spawned). */
export function onPath(tool: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    if (dir === "") return false;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const tool = (name: string) => (): string | undefined => (onPath(name) ? undefined : `${name} is not on PATH`);

export const JUDGES = {
  faketime: {
    what: "faketime (libfaketime)",
    install: "apt-get install faketime",
    requireVar: "CERTVAULT_REQUIRE_FAKETIME",
    missing: tool("faketime"),
  },
  sqlite3: {
    what: "the sqlite3 CLI",
    install: "apt-get install sqlite3",
    requireVar: "CERTVAULT_REQUIRE_SQLITE3",
    missing: tool("sqlite3"),
  },
  postgres: {
    what: "a PostgreSQL server",
    install: "apt-get install postgresql, then set CERTVAULT_TEST_PG=postgres://USER:PASS@127.0.0.1:5432/DB",
    requireVar: "CERTVAULT_REQUIRE_POSTGRES",
    missing: () =>
      process.env.CERTVAULT_TEST_DB?.startsWith("postgres") || process.env.CERTVAULT_TEST_PG
        ? undefined
        : "neither CERTVAULT_TEST_DB nor CERTVAULT_TEST_PG names a postgres:// URL",
  },
} satisfies Record<string, Judge>;

export type JudgeName = keyof typeof JUDGES;

function required(judge: Judge): boolean {
  const ci = (process.env.CI ?? "").trim().toLowerCase();
  return (ci !== "" && ci !== "0" && ci !== "false") || process.env[judge.requireVar] === "1";
}

/** Whether the judge is here (false: the caller runs a weaker variant or skips). */
export function hasJudge(name: JudgeName): boolean {
  return JUDGES[name].missing() === undefined;
}

const noted = new Set<string>();

/**
 * Whether to use the judge: true when it is here; where it is required and missing, throws; otherwise false, and the
 * caller asserts the same thing another way (noted once per process, with the install line).
 */
export function judgeOrFallback(name: JudgeName, fallback: string): boolean {
  const judge: Judge = JUDGES[name];
  const missing = judge.missing();
  if (missing === undefined) return true;
  if (required(judge))
    throw new Error(`${missing} (install: ${judge.install}); this run requires it (${judge.requireVar}=1)`);
  if (!noted.has(name)) console.log(`      (${missing}: ${fallback} instead; install: ${judge.install})`);
  noted.add(name);
  return false;
}

/**
 * For a test or a before hook: returns when the judge is here; otherwise skips the test (or the suite) printing the
 * reason and the install line, or throws where the judge is required.
 */
export function requireJudge(ctx: Mocha.Context, name: JudgeName): void {
  const judge: Judge = JUDGES[name];
  const missing = judge.missing();
  if (missing === undefined) return;
  const reason = `${missing} (needs ${judge.what}; install: ${judge.install})`;
  if (required(judge)) throw new Error(`${reason}; this run requires it (CI or ${judge.requireVar}=1)`);
  console.log(`      (skipped: ${reason})`);
  ctx.skip();
}
