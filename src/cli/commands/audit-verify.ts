/**
 * `certvault audit verify [--hashes-only] [--audit-pub FILE] [--checkpoints FILE]...` and
 * `certvault audit checkpoints [--export FILE|-] [--import FILE] [--audit-pub FILE]`: the rule is in audit/verify.ts.
 */
import { createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { resolveCommon } from "../../config/index.js";
import {
  AuditAnchorMissingError,
  AuditCheckpointFileError,
  AuditVerificationError,
  UsageError,
} from "../../errors/index.js";
import { auditPaths, checkpointVerifier, readAuditPublicKey } from "../../audit/audit-key.js";
import type { AuditPaths } from "../../audit/audit-key.js";
import { noAnchorMessage, verifyAuditTrail } from "../../audit/verify.js";
import type { AuditReport } from "../../audit/verify.js";
import type { Checkpoint } from "../../audit/chain.js";
import { appendCheckpoints, checkpointLine, readCheckpointFile } from "../../audit/checkpoint-file.js";
import { trustedCheckpoints } from "../../audit/checkpoint-log.js";
import { AuditRepository } from "../../store/audit.js";
import { openDatabase } from "../../store/db.js";
import { parse, printJson } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t } from "../terminal.js";

export const HASHES_ONLY_NOTE = "hashes only: no signed anchor checked";

function auditPub(flags: Record<string, unknown>, paths: AuditPaths): KeyObject | undefined {
  const file = flags["audit-pub"];
  if (typeof file !== "string") return readAuditPublicKey(paths);
  if (!existsSync(file)) throw new UsageError(`--audit-pub: no file at ${file}`);
  return createPublicKey(readFileSync(file, "utf8"));
}

async function report(
  db: string,
  paths: AuditPaths,
  opts: Parameters<typeof verifyAuditTrail>[2],
): Promise<AuditReport> {
  const handle = await openDatabase(db);
  try {
    return await verifyAuditTrail(new AuditRepository(handle), paths, opts);
  } finally {
    await handle.destroy();
  }
}

export async function auditVerifyCommand(rest: string[], io: Io): Promise<number> {
  const { flags } = parse(
    rest,
    {
      "hashes-only": { type: "boolean" },
      "audit-pub": { type: "string" },
      checkpoints: { type: "string", multiple: true },
    },
    { positionals: 0 },
  );
  const cfg = resolveCommon(flags, io.env);
  const paths = auditPaths(cfg.home);
  const hashesOnly = flags["hashes-only"] === true;
  const pub = auditPub(flags, paths);
  const r = await report(cfg.db, paths, {
    hashesOnly,
    checkpointFiles: (flags.checkpoints as string[] | undefined) ?? [],
    ...(pub ? { pub } : {}),
  });
  if (!r.result.ok) {
    if (cfg.json) printJson(io, r.result);
    throw new AuditVerificationError(r.result.seq, `audit verify failed: ${r.result.problem}`);
  }
  if (r.unanchored === "no-anchor") {
    if (cfg.json) printJson(io, { ok: false, code: AuditAnchorMissingError.code, problem: noAnchorMessage(paths) });
    throw new AuditAnchorMissingError(`audit verify failed: ${noAnchorMessage(paths)}`);
  }
  const { entries, checkpoints } = r.result;
  if (cfg.json)
    printJson(io, { ...r.result, ...(r.anchor ? { anchor: r.anchor } : { hashesOnly: true, note: HASHES_ONLY_NOTE }) });
  else if (r.anchor)
    io.out(
      `ok ${entries} entries (${checkpoints} signed checkpoints), anchored at entry ${r.anchor.seq} by ${t(r.anchor.source)}\n`,
    );
  else io.out(`ok ${entries} entries (${HASHES_ONLY_NOTE})\n`);
  return 0;
}

const key = (c: Checkpoint): string => `${c.seq}:${c.hash}`;

/** Every genuine checkpoint this node knows: HOME's anchor and log, then the database's (a bad one is named, not taken). */
async function knownCheckpoints(db: string, paths: AuditPaths, pub: KeyObject, io: Io): Promise<Checkpoint[]> {
  const out = new Map<string, Checkpoint>();
  for (const c of trustedCheckpoints(paths, pub))
    if (!out.has(key(c))) out.set(key(c), { seq: c.seq, hash: c.hash, time: c.time, signature: c.signature });
  const genuine = checkpointVerifier(pub);
  const handle = await openDatabase(db);
  try {
    for (const c of await new AuditRepository(handle).checkpoints()) {
      if (!genuine(c))
        io.err(`certvault: the database's checkpoint at entry ${c.seq} has a bad signature: not exported\n`);
      else if (!out.has(key(c))) out.set(key(c), c);
    }
  } finally {
    await handle.destroy();
  }
  return [...out.values()].sort((a, b) => a.seq - b.seq);
}

/** Appends to `file` the checkpoints it lacks (after checking what it holds); returns how many were added. */
function appendNew(file: string, list: readonly Checkpoint[], pub: KeyObject): number {
  const genuine = checkpointVerifier(pub);
  const present = new Set<string>();
  for (const c of existsSync(file) ? readCheckpointFile(file) : []) {
    if (!genuine(c))
      throw new AuditCheckpointFileError(
        `the checkpoint at entry ${c.seq} in ${file} has a bad signature: not appending to it`,
      );
    present.add(key(c));
  }
  const added = list.filter((c) => !present.has(key(c)) && (present.add(key(c)), true));
  appendCheckpoints(file, added);
  return added.length;
}

export async function auditCheckpointsCommand(rest: string[], io: Io): Promise<number> {
  const { flags } = parse(
    rest,
    { export: { type: "string" }, import: { type: "string" }, "audit-pub": { type: "string" } },
    { positionals: 0 },
  );
  const cfg = resolveCommon(flags, io.env);
  const paths = auditPaths(cfg.home);
  const pub = auditPub(flags, paths);
  if (!pub)
    throw new AuditCheckpointFileError(`the audit public key ${paths.pub} is missing (or give --audit-pub FILE)`);
  if (typeof flags.import === "string") {
    if (!existsSync(flags.import)) throw new AuditCheckpointFileError(`no checkpoint file at ${flags.import}`);
    const list = readCheckpointFile(flags.import);
    const bad = list.find((c) => !checkpointVerifier(pub)(c));
    if (bad)
      throw new AuditCheckpointFileError(
        `the checkpoint at entry ${bad.seq} in ${flags.import} has a bad signature (altered, or another audit key's): nothing imported`,
      );
    const n = appendNew(paths.log, list, pub);
    io.out(
      `imported ${n} checkpoints into ${t(paths.log)} (newest: entry ${Math.max(0, ...list.map((c) => c.seq))})\n`,
    );
    return 0;
  }
  const list = await knownCheckpoints(cfg.db, paths, pub, io);
  const out = flags.export;
  if (out === undefined || out === "-") {
    for (const c of list) io.out(checkpointLine(c));
    return 0;
  }
  const n = appendNew(out as string, list, pub);
  io.out(
    `exported ${n} new checkpoints to ${t(out as string)} (${list.length} known, newest: entry ${list[list.length - 1]?.seq ?? 0})\n`,
  );
  return 0;
}
