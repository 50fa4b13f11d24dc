/**
 * `certvault server` as a separate process over a test CA (its own process group, so that stopping it stops
 * everything it started: see ../shared/traps.md), resolved once it prints its URL.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import type { TestCA } from "../../src/testing/index.js";
import { CLI_ENTRY, REPO_ROOT, cliEnv } from "./cli.js";

export interface ServerProcess {
  child: ChildProcess;
  url: string;
}

/** Rate limits are off unless `env` sets them; logs only errors. */
export function startServerProcess(ca: TestCA, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [CLI_ENTRY, "server", ...ca.cliArgs, "--port", "0", "--passphrase-file", ca.passphraseFile],
    {
      cwd: REPO_ROOT,
      env: cliEnv({
        CERTVAULT_RATE_LIMIT_IDENTITY: "0",
        CERTVAULT_RATE_LIMIT_SOURCE: "0",
        CERTVAULT_LOG_LEVEL: "error",
        ...env,
      }),
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /listening on (https:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.once("exit", (code) => reject(new Error(`the server exited with ${code}`)));
  });
}

export function stopServerProcess(p: ServerProcess): Promise<void> {
  return new Promise((resolve) => {
    p.child.removeAllListeners("exit");
    if (p.child.exitCode !== null) return resolve();
    p.child.once("exit", () => resolve());
    if (p.child.pid) process.kill(-p.child.pid, "SIGTERM");
  });
}
