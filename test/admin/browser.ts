/** The test side of browser-worker.ts: forks it with our root trusted, sends commands, awaits answers. */
import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Command } from "./browser-worker.js";

export const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`;
}

/** Skip with the reason, unless CI or CERTVAULT_REQUIRE_BROWSER says the browser tests must run. */
export function requireBrowser(ctx: Mocha.Context): void {
  const missing = browserMissing();
  if (!missing) return;
  if (process.env.CI || process.env.CERTVAULT_REQUIRE_BROWSER)
    throw new Error(`browser tests required here, but ${missing}`);
  console.log(`      (skipped: ${missing})`);
  ctx.skip();
}

export class BrowserDriver {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ok) w?.resolve(m.value);
      else w?.reject(new Error(m.error));
    });
    child.on("exit", (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the browser worker exited (${code})`));
      this.waiting.clear();
    });
  }

  static async start(rootCertPath: string): Promise<BrowserDriver> {
    const worker = fileURLToPath(new URL("./browser-worker.ts", import.meta.url));
    const child = fork(worker, [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: rootCertPath },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`the browser worker exited (${code})`)));
    });
    return new BrowserDriver(child);
  }

  send<T = unknown>(command: Command): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, command });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await this.send({ op: "close" }).catch(() => undefined);
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.disconnect();
    await exited;
  }
}
