/**
 * `--help` on every command and subcommand of the CLI's command table (cli/main.ts COMMANDS) prints its help on
 * stdout and exits 0, doing nothing else: stdin not a terminal (closed, for the ones run as a process), and a
 * passphrase in the environment, so that a command that
 * went ahead instead (`ca init --help` used to make a CA; `dev --help` a CA and a server) would succeed and leave files
 * behind, and one that asked for a passphrase would fail (no terminal) with exit 2 and a message on stderr.
 */
import { expect } from "chai";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Io } from "../../src/cli/command-io.js";
import { TempDirs, inParallel, runCli } from "../helpers/cli.js";
import type { RunResult } from "../helpers/cli.js";

const dirs = new TempDirs();
const PASSPHRASE = "a passphrase that must not be used";
// Imported dynamically: main() loads the commands with import(), and a static import here would be required as
// CommonJS by mocha under tsx, giving cli/command-io.ts two instances (HelpRequested would not be recognised).
const { COMMANDS, main } = await import("../../src/cli/main.js");

/** Every `NAME` and `NAME SUB` of the command table. */
function invocations(): string[][] {
  return Object.entries(COMMANDS).flatMap(([name, entry]) => [
    [name],
    ...(entry.subcommands ?? []).map((sub) => [name, sub]),
  ]);
}

describe("cli: --help on every command prints help, exits 0 and does nothing else", function () {
  this.timeout(600_000);
  after(() => dirs.cleanup());

  it("the table covers the commands the main help names", function () {
    const calls = invocations();
    expect(calls.length).to.be.greaterThan(35);
    for (const name of ["ca", "server", "dev", "put", "requests", "recovery", "recover", "audit", "backup", "restore"])
      expect(Object.keys(COMMANDS)).to.include(name);
    expect(calls).to.deep.include(["ca", "init"]);
  });

  /** Runs main() here (fast) with stdin not a terminal, in fresh HOME and working directories. */
  async function inProcess(argv: string[]): Promise<RunResult & { cwd: string; home: string }> {
    const cwd = dirs.make("certvault-help-cwd-");
    const home = dirs.make("certvault-help-home-");
    let stdout = "";
    let stderr = "";
    const io: Io = {
      out: (t) => (stdout += t),
      outBytes: (b) => (stdout += new TextDecoder().decode(b)),
      err: (t) => (stderr += t),
      env: { CERTVAULT_HOME: home, CERTVAULT_PASSPHRASE: PASSPHRASE, CERTVAULT_DB: join(home, "certvault.db") },
      stdinIsTTY: false,
      now: () => new Date(),
    };
    const code = await main(argv, io);
    return { code, signal: null, stdout, stderr, cwd, home };
  }

  function expectHelpOnly(argv: string[], r: RunResult & { cwd: string; home: string }): void {
    const what = `certvault ${argv.join(" ")}: ${r.stderr}`;
    expect(r.code, what).to.equal(0);
    expect(r.stderr, what).to.equal("");
    for (const word of argv.filter((a) => !a.startsWith("-"))) expect(r.stdout, what).to.include(word);
    expect(r.stdout.length, what).to.be.greaterThan(60);
    expect(readdirSync(r.home), `${what}: wrote into HOME`).to.deep.equal([]);
    expect(readdirSync(r.cwd), `${what}: wrote into the working directory`).to.deep.equal([]);
  }

  it("NAME [SUB] --help and -h, for each of them (in this process)", async function () {
    for (const call of invocations())
      for (const flag of ["--help", "-h"]) expectHelpOnly([...call, flag], await inProcess([...call, flag]));
  });

  it("as a process with stdin closed: the commands that ask for a passphrase or start something", async function () {
    const calls = [["ca", "init"], ["ca", "issue"], ["dev"], ["server"], ["requests", "approve"], ["recover"]];
    const results = await inParallel(
      calls.map((call) => async () => {
        const cwd = dirs.make("certvault-help-cwd-");
        const home = dirs.make("certvault-help-home-");
        const r = await runCli([...call, "--help"], {
          cwd,
          env: { CERTVAULT_HOME: home, CERTVAULT_PASSPHRASE: PASSPHRASE, PORT: "0" },
        });
        return { call, r: { ...r, cwd, home } };
      }),
      3,
    );
    for (const { call, r } of results) expectHelpOnly([...call, "--help"], r);
  });
});
