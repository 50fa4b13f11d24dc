/**
 * Configuration and request state stay at their edges (issue 21): `process.env` is read only in config/ and in
 * cli/command-io.ts (which hands it to the commands as io.env), and the server reads or writes no `ctx.state.KEY`
 * that AppState (server/state.ts) does not declare. Read from the source text, so a new file is held to it too.
 */
import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { REPO_ROOT } from "./helpers/cli.js";
import { adminUser } from "../src/config/commands.js";
import { testDatabaseServer } from "../src/config/test-kit.js";

const SRC = join(REPO_ROOT, "src");

/** Every .ts/.js file under `dir`, as a path relative to src/ with forward slashes. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(full));
    else if (/\.(ts|js|mjs|cjs)$/.test(e.name)) out.push(relative(SRC, full).split(sep).join("/"));
  }
  return out;
}

/** The places allowed to read the environment. */
const ENV_EDGES = [/^config\//, /^cli\/command-io\.ts$/];

/** `process.env`, `process?.env`, `process["env"]`, also with spaces: every spelling of the read. */
const PROCESS_ENV = /\bprocess\s*(?:\?\.|\.)\s*env\b|\bprocess\s*(?:\?\.)?\s*\[\s*["'`]env["'`]\s*\]/g;

/** Field names of `interface NAME { ... }` in `text` (one level: AppState's fields hold no braces). */
function interfaceFields(text: string, name: string): string[] {
  const start = text.indexOf(`export interface ${name} {`);
  if (start < 0) throw new Error(`no interface ${name}`);
  const body = text.slice(text.indexOf("{", start) + 1, text.indexOf("\n}", start));
  const code = body.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  return [...code.matchAll(/^\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)\??\s*:/gm)].map((m) => m[1] as string);
}

/** Every `ctx.state.KEY` (also `?.KEY`, `["KEY"]`) in `text`; a computed `ctx.state[expr]` comes back as "[expr]". */
function stateKeys(text: string): string[] {
  const keys: string[] = [];
  for (const m of text.matchAll(/\bctx\s*\.\s*state\s*(?:\?\.|\.)\s*([A-Za-z_$][\w$]*)/g)) keys.push(m[1] as string);
  for (const m of text.matchAll(/\bctx\s*\.\s*state\s*(?:\?\.)?\s*\[\s*([^\]]*)\]/g)) {
    const literal = /^["'`]([^"'`]+)["'`]$/.exec((m[1] as string).trim());
    keys.push(literal ? (literal[1] as string) : `[${m[1] as string}]`);
  }
  return keys;
}

describe("edges: configuration and request state", function () {
  it("no process.env in src/ outside config/ and cli/command-io.ts", function () {
    const found: string[] = [];
    let atEdges = 0;
    for (const f of sources(SRC)) {
      const hits = readFileSync(join(SRC, f), "utf8").match(PROCESS_ENV)?.length ?? 0;
      if (hits === 0) continue;
      if (ENV_EDGES.some((e) => e.test(f))) atEdges += hits;
      else found.push(`${f} (${hits})`);
    }
    expect(found, "reads of process.env outside the edges").to.deep.equal([]);
    // The walk saw the reads that must exist (the CLI's and the kit's), so an empty list above means something.
    expect(atEdges).to.be.at.least(2);
  });

  it("every ctx.state.KEY in src/server/ is a field of AppState (server/state.ts)", function () {
    const fields = interfaceFields(readFileSync(join(SRC, "server", "state.ts"), "utf8"), "AppState");
    expect(fields).to.include.members(["requestId", "log", "caller", "recheck", "route"]);
    const stray: string[] = [];
    let seen = 0;
    for (const f of sources(join(SRC, "server"))) {
      for (const key of stateKeys(readFileSync(join(SRC, f), "utf8"))) {
        seen++;
        if (!fields.includes(key)) stray.push(`${f}: ctx.state.${key}`);
      }
    }
    expect(stray, "ctx.state keys that AppState does not declare").to.deep.equal([]);
    expect(seen, "the server's uses of ctx.state were found").to.be.greaterThan(10);
  });

  it("the parsers see what they look for (a stray key, a hidden env read)", function () {
    expect(stateKeys('ctx.state.caller; ctx.state?.sneaky = 1; ctx.state["other"]; ctx.state[k]')).to.deep.equal([
      "caller",
      "sneaky",
      "other",
      "[k]",
    ]);
    expect('const a = process.env.X; const b = process["env"]; process?.env'.match(PROCESS_ENV)).to.have.length(3);
    expect(
      interfaceFields("export interface S {\n  /** a: b */\n  a?: string;\n  b: () => void;\n}", "S"),
    ).to.deep.equal(["a", "b"]);
  });

  it("the settings read at the edge: the admin's name, the kit's PostgreSQL server", function () {
    const noPasswd = (): string => {
      throw new Error("no passwd entry");
    };
    expect(adminUser({ USER: "env-user" }, () => "os-user")).to.equal("os-user");
    expect(adminUser({ USER: "env-user" }, noPasswd)).to.equal("env-user");
    expect(adminUser({}, noPasswd)).to.equal("unknown");
    const pg = "postgres://u:p@127.0.0.1:5432/db";
    expect(testDatabaseServer({ CERTVAULT_TEST_DB: pg })).to.equal(pg);
    expect(testDatabaseServer({ CERTVAULT_TEST_DB: "/tmp/x.db" })).to.equal(undefined);
    expect(testDatabaseServer({})).to.equal(undefined);
  });
});
