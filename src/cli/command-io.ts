/**
 * What every command shares: argument parsing (node:util parseArgs, unknown flags are usage errors), the common
 * options, and printing. Commands do parsing and printing only; the work is one library call.
 */
import { parseArgs } from "node:util";
import type { ParseArgsConfig } from "node:util";
import { UsageError } from "../errors/index.js";
import { terminalSafeJson } from "./terminal.js";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

export const COMMON_OPTIONS = {
  home: { type: "string" },
  db: { type: "string" },
  json: { type: "boolean" },
  "passphrase-file": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpec;

export interface Parsed {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * `--help`/`-h` on a (sub)command: thrown by parse() before the command does anything (no prompt, no file, no
 * database); main() prints `text`, or the command's help from the command table, on stdout and exits 0.
 */
export class HelpRequested extends Error {
  constructor(readonly text?: string) {
    super("help requested");
  }
}

/** `help`: this (sub)command's own help text, printed for --help instead of its command group's. */
export function parse(argv: string[], options: OptionSpec, opts: { positionals?: number; help?: string } = {}): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) throw new HelpRequested(opts.help);
    if (opts.positionals !== undefined && positionals.length > opts.positionals) {
      throw new UsageError(`unexpected argument "${positionals[opts.positionals]}"`);
    }
    return { flags: values as Parsed["flags"], positionals };
  } catch (err) {
    if (err instanceof UsageError || err instanceof HelpRequested) throw err;
    throw new UsageError((err as Error).message);
  }
}

export interface Io {
  out(text: string): void;
  /** Raw bytes to stdout (decrypted records). */
  outBytes(bytes: Uint8Array): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  stdinIsTTY: boolean;
  /** The clock every service a command calls is given (the wall clock here, at the edge). */
  now(): Date;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  outBytes: (b) => process.stdout.write(b),
  err: (t) => process.stderr.write(t),
  env: process.env,
  stdinIsTTY: Boolean(process.stdin.isTTY),
  now: () => new Date(),
};

/** One JSON document; characters a terminal would act on (bidi, C1, U+2028...) are \u-escaped, still valid JSON. */
export function printJson(io: Io, value: unknown): void {
  io.out(terminalSafeJson(value, 2) + "\n");
}

export function requireString(flags: Parsed["flags"], name: string): string {
  const v = flags[name];
  if (typeof v !== "string" || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}
