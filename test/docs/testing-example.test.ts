/**
 * docs/testing.md's example, run exactly as written (the first ```ts block) with mocha, the way a user's project runs
 * it: its own directory with `"type": "module"`, certvault and chai under node_modules (here links to this checkout
 * and to our chai), mocha loading TypeScript through tsx. `certvault/testing` and `certvault/client-sdk` resolve
 * through the package's exports under the `source` condition (the TypeScript sources), so the test needs no build.
 * The block is also type-checked against the sources, as a user's `tsc` would check it against the built types.
 */
import { expect } from "chai";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT, runProcess } from "../helpers/cli.js";

// The example lives in a temp dir, outside this package: point --import at our tsx, and node at our mocha, by path.
const TSX_LOADER = pathToFileURL(join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
const MOCHA = join(REPO_ROOT, "node_modules", "mocha", "bin", "mocha.js");
const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
/** The example's `it(...)` calls: the count mocha must report as passing. */
const EXPECTED_TESTS = 5;

function firstTsBlock(markdown: string): string {
  const m = /```ts\n([\s\S]*?)```/.exec(markdown);
  if (!m?.[1]) throw new Error("docs/testing.md has no ```ts block");
  return m[1];
}

interface MochaJson {
  stats: { tests: number; passes: number; failures: number; pending: number };
  failures: { fullTitle: string; err: { message?: string } }[];
}

describe("docs/testing.md example", function () {
  let dir: string;
  let example: string;

  before(function () {
    example = firstTsBlock(readFileSync(join(REPO_ROOT, "docs", "testing.md"), "utf8"));
    dir = mkdtempSync(join(tmpdir(), "certvault-testing-doc-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(dir, "vault.test.ts"), example);
    // As after `npm install certvault` and `npm install --save-dev mocha chai tsx @types/mocha @types/chai`.
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(REPO_ROOT, join(dir, "node_modules", "certvault"), "dir");
    symlinkSync(join(REPO_ROOT, "node_modules", "chai"), join(dir, "node_modules", "chai"), "dir");
    symlinkSync(join(REPO_ROOT, "node_modules", "@types"), join(dir, "node_modules", "@types"), "dir");
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it(`the block declares ${EXPECTED_TESTS} tests and imports the kit and the SDK by their package names`, function () {
    expect(example.match(/^\s*it\(/gm) ?? []).to.have.length(EXPECTED_TESTS);
    expect(example).to.match(/from "certvault\/testing"/);
    expect(example).to.match(/from "certvault\/client-sdk"/);
  });

  it(`mocha runs it as written: ${EXPECTED_TESTS} passing, none failing or pending`, async function () {
    const report = join(dir, "report.json");
    const r = await runProcess(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        TSX_LOADER,
        MOCHA,
        "--reporter",
        "json",
        "--reporter-option",
        `output=${report}`,
        "vault.test.ts",
      ],
      {
        cwd: dir,
        env: { ...process.env, TSX_TSCONFIG_PATH: join(REPO_ROOT, "tsconfig.json") },
        timeoutMs: 120_000,
      },
    );
    let json: MochaJson | undefined;
    try {
      json = JSON.parse(readFileSync(report, "utf8")) as MochaJson;
    } catch {
      /* reported below with mocha's output */
    }
    const failures = (json?.failures ?? []).map((f) => `${f.fullTitle}: ${f.err.message ?? ""}`).join("\n");
    expect(json, `no report from mocha (exit ${r.code}):\n${r.stdout}\n${r.stderr}`).to.not.equal(undefined);
    expect(r.code, `${failures}\n${r.stderr}`).to.equal(0);
    expect(json?.stats).to.include({ tests: EXPECTED_TESTS, passes: EXPECTED_TESTS, failures: 0, pending: 0 });
  });

  it("type-checks (strict) against certvault's sources", async function () {
    // The package's "types" condition points at dist/ (built by `npm install`); check against the sources instead.
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2023", "DOM"],
        strict: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        skipLibCheck: true,
        experimentalDecorators: true,
        types: ["node", "mocha"],
        paths: {
          "certvault/testing": [join(REPO_ROOT, "src", "testing", "index.ts")],
          "certvault/client-sdk": [join(REPO_ROOT, "src", "client-sdk", "index.ts")],
        },
      },
      files: ["vault.test.ts"],
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
    const r = await runProcess(process.execPath, [TSC, "-p", join(dir, "tsconfig.json")], {
      cwd: dir,
      timeoutMs: 120_000,
    });
    const ours = r.stdout.split("\n").filter((l) => l.startsWith("vault.test.ts"));
    expect(ours, r.stdout).to.deep.equal([]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
  });
});
