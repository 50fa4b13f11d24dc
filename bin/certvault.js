#!/usr/bin/env node
// The `certvault` command. Runs the compiled CLI (built by `npm install` through `prepare`); in a checkout where
// dist/ is missing or older than any TypeScript source (someone edited without rebuilding), it runs the sources
// through tsx instead, so that the command never runs stale code.
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist", "cli", "certvault.js");

function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(root, "src"));
  return newest;
}

const useBuilt = existsSync(built) && !process.env.CERTVAULT_FROM_SOURCE && statSync(built).mtimeMs >= newestSource();
if (useBuilt) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import("tsx/esm/api");
  register({ tsconfig: join(root, "tsconfig.json") });
  await import(pathToFileURL(join(root, "src", "cli", "certvault.ts")).href);
}
