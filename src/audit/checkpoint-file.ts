/**
 * The checkpoint file format: one JSON object per line ({"seq", "hash", "time", "signature"}), appended with O_APPEND
 * and fsynced, never rewritten. Used by each node's HOME/audit/checkpoints.log and by exports (checkpoint-log.ts).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { AuditCheckpointFileError } from "../errors/index.js";
import type { Checkpoint } from "./chain.js";

export function checkpointLine(c: Checkpoint): string {
  return JSON.stringify({ seq: c.seq, hash: c.hash, time: c.time.toISOString(), signature: c.signature }) + "\n";
}

/** Appends lines to `path` (made 0644 if absent) with O_APPEND, then fsyncs: never rewrites what is there. */
export function appendCheckpoints(path: string, checkpoints: readonly Checkpoint[]): void {
  if (checkpoints.length === 0) return;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, "a", 0o644);
  try {
    writeSync(fd, checkpoints.map(checkpointLine).join(""));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function parseLine(line: string, where: string): Checkpoint {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new AuditCheckpointFileError(`${where} is not JSON`);
  }
  const o = v as { seq?: unknown; hash?: unknown; time?: unknown; signature?: unknown };
  const time = typeof o.time === "string" ? new Date(o.time) : new Date(NaN);
  if (
    !Number.isSafeInteger(o.seq) ||
    (o.seq as number) < 0 ||
    typeof o.hash !== "string" ||
    !/^[0-9a-f]{64}$/.test(o.hash) ||
    typeof o.signature !== "string" ||
    Number.isNaN(time.getTime())
  ) {
    throw new AuditCheckpointFileError(`${where} is not a checkpoint ({"seq", "hash", "time", "signature"})`);
  }
  return { seq: o.seq as number, hash: o.hash, time, signature: o.signature };
}

/** Every checkpoint in a checkpoint file, in file order. A torn last line (a crash mid-append) is skipped. */
export function readCheckpointFile(path: string): Checkpoint[] {
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  const torn = !text.endsWith("\n") ? lines.length - 1 : -1;
  const out: Checkpoint[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(parseLine(line, `line ${i + 1} of ${path}`));
    } catch (err) {
      if (i !== torn) throw err;
    }
  });
  return out;
}
