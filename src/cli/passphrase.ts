/**
 * Where a passphrase comes from: --passphrase-file, then CERTVAULT_PASSPHRASE, then (dev mode only) the passphrase
 * file that `npm start` keeps beside the CA, then a hidden prompt on an interactive terminal. A non-interactive run
 * without any of them is a usage error (exit 2): we never wait on a pipe for a secret.
 */
import { existsSync, readFileSync } from "node:fs";
import { PassphraseRequiredError, UsageError } from "../errors/index.js";
import type { Io } from "./command-io.js";

export interface PassphraseSources {
  passphraseFile: string | undefined;
  passphraseEnv: string | undefined;
  devPassphraseFile?: string;
}

export function readPassphraseFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`cannot read the passphrase file ${path}`);
  }
  // One trailing newline is the file's, not the passphrase's.
  const value = text.replace(/\r?\n$/, "");
  if (value.length === 0) throw new UsageError(`the passphrase file ${path} is empty`);
  return value;
}

export async function obtainPassphrase(
  src: PassphraseSources,
  io: Io,
  opts: { prompt: string; confirm?: boolean },
): Promise<string> {
  if (src.passphraseFile) return readPassphraseFile(src.passphraseFile);
  if (src.passphraseEnv !== undefined && src.passphraseEnv !== "") return src.passphraseEnv;
  if (src.devPassphraseFile && existsSync(src.devPassphraseFile)) {
    io.err(`certvault: using the development passphrase kept in ${src.devPassphraseFile}\n`);
    return readPassphraseFile(src.devPassphraseFile);
  }
  if (!io.stdinIsTTY) throw new PassphraseRequiredError();
  const first = await promptHidden(opts.prompt);
  if (opts.confirm) {
    const second = await promptHidden("Repeat the passphrase: ");
    if (first !== second) throw new UsageError("the two passphrases differ");
  }
  return first;
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    let value = "";
    stdin.setRawMode(true);
    stdin.resume();
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return finish(null);
        if (ch === "\u0003") return finish(new UsageError("cancelled"));
        if (ch === "\u007f") value = value.slice(0, -1);
        else value += ch;
      }
    };
    const finish = (err: Error | null): void => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolvePromise(value);
    };
    stdin.on("data", onData);
  });
}
