/**
 * `certvault server` as a separate process over a test CA (its own process group, so that stopping it stops
 * everything it started: see ../shared/traps.md), resolved once it prints its URL.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import type { TestCA } from "../../src/testing/index.js";
import { CLI_ENTRY, REPO_ROOT, cliEnv } from "./cli.js";
import { eventually } from "./eventually.js";

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

/** Sends `signal` to the process group `pgid`; false when the group is empty (every member already gone). */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/**
 * SIGTERM to the server's process group, then waits for the server to exit and for the group to be empty. Also for a
 * server that is already gone (a test SIGKILLed it: exitCode stays null, signalCode is set, and no exit will come
 * again): what it left in its group (tsx's esbuild, say) is stopped and awaited just the same.
 */
export async function stopServerProcess(p: ServerProcess): Promise<void> {
  const { child } = p;
  child.removeAllListeners("exit");
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const pgid = child.pid;
  if (pgid === undefined) return exited; // never started: nothing to signal
  signalGroup(pgid, "SIGTERM");
  await exited;
  await eventually(() => !signalGroup(pgid, 0), {
    what: `the server's process group ${pgid} to be empty`,
    timeoutMs: 30_000,
  });
}
