#!/usr/bin/env node
// The `certvault` command. Runs the compiled CLI (built by `npm install` through `prepare`);
// in a checkout where dist/ is missing or older than the sources, it falls back to the TypeScript sources via tsx.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist", "scripts", "certvault.js");
if (existsSync(built) && !process.env.CERTVAULT_FROM_SOURCE) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import("tsx/esm/api");
  register({ tsconfig: join(root, "tsconfig.json") });
  await import(pathToFileURL(join(root, "scripts", "certvault.ts")).href);
}
