/**
 * Issue 21: docs/api.md's code tables are held to the registry (errors/registry.ts). Every code appears in exactly one
 * table, the one of its scope, with the registry's status (and exit status, or class for the SDK's own codes); every
 * code in a table exists.
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ERRORS, errorSpec } from "../../src/errors/index.js";
import type { ErrorCode, ErrorScope } from "../../src/errors/index.js";
import { ERROR_CLASSES } from "../../src/client-sdk/server-errors.js";
import { REPO_ROOT } from "../helpers/cli.js";

interface Row {
  scope: ErrorScope;
  code: string;
  status: number | null;
  exit?: number;
  cls?: string;
}

function rows(markdown: string): Row[] {
  const out: Row[] = [];
  for (const line of markdown.split("\n")) {
    let m = /^\| (\d{3}) \| `([a-z0-9_]+)` \|/.exec(line);
    if (m) out.push({ scope: "http", status: Number(m[1]), code: m[2] ?? "" });
    m = /^\| (\d{3}) \| ([12]) \| `([a-z0-9_]+)` \|/.exec(line);
    if (m) out.push({ scope: "local", status: Number(m[1]), exit: Number(m[2]), code: m[3] ?? "" });
    m = /^\| `([a-z0-9_]+)` \| `(\w+)` \|/.exec(line);
    if (m) out.push({ scope: "client", status: null, code: m[1] ?? "", cls: m[2] ?? "" });
  }
  return out;
}

describe("docs/api.md's error codes against the registry (issue 21)", function () {
  const table = rows(readFileSync(join(REPO_ROOT, "docs", "api.md"), "utf8"));

  it("finds the three tables", function () {
    for (const scope of ["http", "local", "client"] as const)
      expect(table.filter((r) => r.scope === scope).length, scope).to.be.greaterThan(0);
  });

  it("every code in the tables exists, once, in its scope's table, with the registry's status", function () {
    const seen = new Set<string>();
    for (const r of table) {
      expect(seen.has(r.code), `${r.code} twice`).to.equal(false);
      seen.add(r.code);
      expect(Object.keys(ERRORS), `${r.code} is not in errors/registry.ts`).to.include(r.code);
      const s = errorSpec(r.code as ErrorCode);
      expect({ scope: r.scope, status: r.status }, r.code).to.deep.equal({ scope: s.scope, status: s.status });
      if (r.exit !== undefined) expect(r.exit, `${r.code} exit`).to.equal(s.exit);
      if (r.cls !== undefined) expect(r.cls, `${r.code} class`).to.equal(ERROR_CLASSES[r.code as ErrorCode].name);
    }
  });

  it("every code of the registry is in the tables", function () {
    const documented = new Set(table.map((r) => r.code));
    expect(Object.keys(ERRORS).filter((c) => !documented.has(c))).to.deep.equal([]);
  });

  it("codes answered with exit 2 in the HTTP table: none (usage errors are the CLI's)", function () {
    expect(table.filter((r) => r.scope === "http" && errorSpec(r.code as ErrorCode).exit === 2)).to.deep.equal([]);
  });
});
