/**
 * The layout explains itself only while the maps match the tree (issue 21): every folder under src/ (two levels) is
 * named in docs/architecture.md's folder table, every folder the table names exists, and the README names every
 * top-level folder of src/. The folder list lives in the tree alone: tsconfig.build.json and bin/certvault.js read
 * src/ as a whole.
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./helpers/cli.js";

const SRC = join(REPO_ROOT, "src");

function folders(dir: string, depth: number, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const name = `${prefix}${e.name}/`;
    out.push(name);
    if (depth > 1) out.push(...folders(join(dir, e.name), depth - 1, name));
  }
  return out.sort();
}

function tableFolders(md: string): string[] {
  const section = md.slice(md.indexOf("## Folders"), md.indexOf("\n## ", md.indexOf("## Folders") + 1));
  return [...section.matchAll(/^\| `([a-z0-9/-]+\/)` \|/gm)].map((m) => m[1]!).sort();
}

describe("layout: the maps match the tree", function () {
  it("docs/architecture.md's folder table names exactly the folders under src/ (two levels)", function () {
    const table = tableFolders(readFileSync(join(REPO_ROOT, "docs", "architecture.md"), "utf8"));
    const tree = folders(SRC, 2).filter((f) => !f.startsWith("server/admin/") || f === "server/admin/");
    expect(table).to.deep.equal(tree.filter((f) => f !== "cli/commands/"));
  });

  it("the README names every top-level folder of src/", function () {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    for (const f of folders(SRC, 1)) expect(readme, f).to.include(`\`src/${f}\``);
  });

  it("the build and the command read src/ as a whole (no folder list to keep)", function () {
    const build = JSON.parse(readFileSync(join(REPO_ROOT, "tsconfig.build.json"), "utf8")) as { include: string[] };
    expect(build.include).to.deep.equal(["src"]);
    const bin = readFileSync(join(REPO_ROOT, "bin", "certvault.js"), "utf8");
    expect(bin).to.include('walk(join(root, "src"))');
    // Every TypeScript file of the product is under src/: outside it only the suite, the bench and the config.
    const tracked = execFileSync("git", ["ls-files", "*.ts"], { cwd: REPO_ROOT, encoding: "utf8" }).split("\n");
    const outside = tracked.filter((f) => f && !/^(src|test|bench)\//.test(f));
    expect(outside).to.deep.equal([]);
  });
});
