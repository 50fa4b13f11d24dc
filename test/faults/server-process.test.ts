/**
 * The helper that stops a `certvault server` process (test/helpers/server-process.ts) returns also for a process that
 * is already gone: one a test SIGKILLed (its exitCode stays null, its signalCode says SIGKILL) must not leave the
 * helper waiting for an exit that already happened. A running one is stopped with its whole process group.
 */
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { startServerProcess, stopServerProcess } from "../helpers/server-process.js";

/** `p`, or a failure naming `what` once `ms` have passed: a hang shows as a failure, not as a stuck suite. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()));

/** Whether a process (or, with a negative id, a process group) still exists: signal 0 checks without sending. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("test helper: stopServerProcess", function () {
  this.timeout(60_000);
  let ca: TestCA;
  before(async function () {
    ca = await createTestCA();
  });
  after(async function () {
    await ca.cleanup();
  });

  it("returns for a server that was already SIGKILLed (and its exit seen)", async function () {
    const srv = await startServerProcess(ca);
    const pid = srv.child.pid as number;
    try {
      process.kill(pid, "SIGKILL");
      await exited(srv.child);
      expect(srv.child.signalCode).to.equal("SIGKILL");
      expect(srv.child.exitCode).to.equal(null);
      await within(stopServerProcess(srv), 10_000, "stopServerProcess of a SIGKILLed server");
    } finally {
      if (alive(-pid)) process.kill(-pid, "SIGKILL");
    }
  });

  it("stops a running server and its process group", async function () {
    const srv = await startServerProcess(ca);
    const pid = srv.child.pid as number;
    try {
      expect(alive(-pid)).to.equal(true);
      await within(stopServerProcess(srv), 30_000, "stopServerProcess of a running server");
      expect(srv.child.exitCode ?? srv.child.signalCode).to.not.equal(null);
      expect(alive(-pid), "the process group is gone").to.equal(false);
    } finally {
      if (alive(-pid)) process.kill(-pid, "SIGKILL");
    }
  });
});
