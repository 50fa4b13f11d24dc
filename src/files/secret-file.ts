/**
 * Writing files that hold secrets (encrypted keys, the dev passphrase): mode 0600 from the first byte, written to a
 * temp file in the same directory and moved into place, so that a crash never leaves a half-written key and no other
 * user can ever read it.
 */
import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { FileExistsError } from "../errors/index.js";

export { FileExistsError };

export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number; overwrite?: boolean } = {},
): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", opts.mode ?? 0o600);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (opts.overwrite) {
      renameSync(tmp, path);
    } else {
      // link() fails with EEXIST instead of replacing: an atomic "create if absent".
      try {
        linkSync(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new FileExistsError(path);
        throw err;
      }
      unlinkSync(tmp);
    }
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already moved or gone */
    }
    throw err;
  }
}

export function writeSecretFile(path: string, data: string | Uint8Array, opts: { overwrite?: boolean } = {}): void {
  writeFileAtomic(path, data, { mode: 0o600, ...opts });
}
