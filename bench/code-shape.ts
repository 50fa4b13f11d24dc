/**
 * The shape of a tree's product sources (issue 21: most files under ~200 lines, functions under ~40): file count,
 * median and p90 file lines, the largest files and the longest functions, parsed with the TypeScript compiler API.
 * Product sources are every .ts file under ROOT/src/, or, in a tree from before the src/ layout, under the old
 * top-level product folders; files are named relative to src/ (or to the root), as comments name them.
 * Run: node --import tsx bench/code-shape.ts [ROOT_DIR] (default: this checkout), or npm run shape -- [ROOT_DIR].
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const OLD_FOLDERS = [
  "abuse",
  "audit",
  "ca",
  "client-sdk",
  "config",
  "envelope",
  "errors",
  "keys",
  "policy",
  "recovery",
  "scripts",
  "server",
  "store",
  "testing",
];

export interface FunctionShape {
  where: string;
  lines: number;
}
export interface TreeShape {
  files: number;
  median: number;
  p90: number;
  largest: { file: string; lines: number }[];
  longest: FunctionShape[];
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The product's .ts files: src/ when the tree has it, else the old top-level folders. */
export function productFiles(root: string): string[] {
  const src = join(root, "src");
  if (existsSync(src)) return tsFiles(src);
  return OLD_FOLDERS.map((f) => join(root, f))
    .filter((d) => existsSync(d))
    .flatMap(tsFiles);
}

function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const own = (n: ts.Node): string | undefined => {
    const name = (n as { name?: ts.Node }).name;
    return name && (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isPrivateIdentifier(name))
      ? name.text
      : name?.getText(sf);
  };
  if (ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isAccessor(node)) {
    const cls = node.parent;
    const method = ts.isConstructorDeclaration(node) ? "constructor" : (own(node) ?? "<method>");
    const owner = ts.isClassLike(cls) ? own(cls) : undefined;
    return owner ? `${owner}.${method}` : method;
  }
  const direct = own(node);
  if (direct) return direct;
  // An arrow or function expression is named by what holds it: a variable, a property, a call's argument.
  const p = node.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return own(p) ?? "?";
  if (ts.isCallExpression(p)) return `${p.expression.getText(sf).slice(0, 40)}(…)`;
  const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  return `<anonymous@${line}>`;
}

function isFunction(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isAccessor(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node)
  );
}

/** Every function in one file, by lines from its first token to its last. */
export function functionsOf(path: string, text: string, label: string): FunctionShape[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out: FunctionShape[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunction(node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ where: `${label}:${nameOf(node, sf)}`, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)] as number;
}

export function measure(root: string, largest = 12, longest = 15): TreeShape {
  const files = productFiles(root).sort();
  // Named as comments name them: relative to src/ (or to the root in the old layout), so both layouts compare.
  const base = existsSync(join(root, "src")) ? join(root, "src") : root;
  const sizes: { file: string; lines: number }[] = [];
  const fns: FunctionShape[] = [];
  for (const path of files) {
    const text = readFileSync(path, "utf8");
    const label = relative(base, path);
    sizes.push({ file: label, lines: text.split("\n").length - (text.endsWith("\n") ? 1 : 0) });
    fns.push(...functionsOf(path, text, label));
  }
  const lines = sizes.map((s) => s.lines).sort((a, b) => a - b);
  const m = Math.floor(lines.length / 2);
  const median = lines.length % 2 ? (lines[m] ?? 0) : ((lines[m - 1] ?? 0) + (lines[m] ?? 0)) / 2;
  return {
    files: files.length,
    median,
    p90: quantile(lines, 0.9),
    largest: [...sizes].sort((a, b) => b.lines - a.lines).slice(0, largest),
    longest: fns.sort((a, b) => b.lines - a.lines).slice(0, longest),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? fileURLToPath(new URL("..", import.meta.url)));
  const s = measure(root);
  console.log(`code shape of ${root}`);
  console.log(`files: ${s.files}   median lines: ${s.median}   p90 lines: ${s.p90}`);
  console.log(`\nlargest files:`);
  for (const f of s.largest) console.log(`  ${String(f.lines).padStart(5)}  ${f.file}`);
  console.log(`\nlongest functions:`);
  for (const f of s.longest) console.log(`  ${String(f.lines).padStart(5)}  ${f.where}`);
}
