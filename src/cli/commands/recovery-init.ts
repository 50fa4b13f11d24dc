/**
 * `certvault recovery init [--replace [--reason R]]`: sets recovery up (recovery/setup.ts) and writes its files; with
 * --replace, first revokes the active recovery certificate and moves the old certificate and shares aside
 * (HOME/recovery/retired-TIME/), e.g. after a custodian's key or share was compromised. The custodians are printed
 * on stderr (identity, serial, SHA-256 fingerprint) so the operator can check the set before handing shares out;
 * stdout stays as it was (and --json carries them too).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { resolveCommon } from "../../config/index.js";
import { UsageError } from "../../errors/index.js";
import { writeFileAtomic, writeSecretFile } from "../../files/secret-file.js";
import { parseReason } from "../../ca/reasons.js";
import type { ReasonName } from "../../ca/reasons.js";
import { readRecoveryCert, recoveryPaths, writeRecoveryPolicy } from "../../recovery/recovery-files.js";
import type { RecoveryPaths } from "../../recovery/recovery-files.js";
import { setUpRecovery } from "../../recovery/setup.js";
import type { RecoverySetup } from "../../recovery/setup.js";
import { parse, printJson, requireString } from "../command-io.js";
import type { Io } from "../command-io.js";
import { withAuthority } from "./ca.js";
import { recordAdminEvent } from "./admin-audit.js";
import { safeForTerminal } from "../terminal.js";

const INIT_OPTIONS = {
  custodian: { type: "string", multiple: true },
  threshold: { type: "string" },
  "wait-hours": { type: "string" },
  replace: { type: "boolean" },
  reason: { type: "string" },
} as const;

function readCustodian(path: string): { pem: string; source: string } {
  try {
    return { pem: readFileSync(path, "utf8"), source: path };
  } catch {
    throw new UsageError(`cannot read the custodian certificate ${path}`);
  }
}

/** Moves the old recovery certificate and any share files left here aside, so that the new set never mixes with them. */
function retireOldSet(paths: RecoveryPaths): string | undefined {
  const shares = existsSync(paths.sharesDir)
    ? readdirSync(paths.sharesDir).filter((f) => /^share-.*\.p7m$/.test(f))
    : [];
  if (!existsSync(paths.cert) && shares.length === 0) return undefined;
  const dir = join(paths.sharesDir, `retired-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of shares) renameSync(join(paths.sharesDir, f), join(dir, f));
  if (existsSync(paths.cert)) renameSync(paths.cert, join(dir, "recovery.crt"));
  return dir;
}

function writeSet(paths: RecoveryPaths, setup: RecoverySetup, minWaitHours: number): string[] {
  mkdirSync(paths.sharesDir, { recursive: true, mode: 0o700 });
  const files = setup.shares.map((s, i) => {
    const file = join(paths.sharesDir, `share-${i + 1}-${s.custodian.replace(/[^A-Za-z0-9_.-]/g, "_")}.p7m`);
    writeSecretFile(file, s.envelope);
    return file;
  });
  writeFileAtomic(paths.cert, setup.certificatePem, { mode: 0o644, overwrite: true });
  writeRecoveryPolicy(paths, { minWaitHours });
  return files;
}

function report(
  io: Io,
  json: boolean,
  paths: RecoveryPaths,
  setup: RecoverySetup,
  files: string[],
  threshold: number,
  retired: string | undefined,
): void {
  const custodians = setup.custodians.map((c) => ({
    identity: c.identity,
    serial: c.serial,
    fingerprint: c.fingerprint,
    file: c.source,
  }));
  io.err(
    `custodians (${custodians.length}; any ${threshold} rebuild the recovery key): check each before handing out its share\n`,
  );
  for (const c of custodians)
    io.err(`  "${safeForTerminal(c.identity)}" serial ${c.serial} sha256 ${c.fingerprint} (${c.file})\n`);
  if (setup.replaced.length > 0)
    io.err(
      `revoked the old recovery certificate ${setup.replaced.join(", ")}${retired ? `; its certificate and shares moved to ${retired}` : ""}\n`,
    );
  if (json)
    printJson(io, {
      certificate: paths.cert,
      serial: setup.serial,
      shares: files,
      threshold,
      custodians,
      replaced: setup.replaced,
    });
  else
    io.out(
      `recovery certificate ${paths.cert} (serial ${setup.serial}); ${files.length} shares, any ${threshold} rebuild the key:\n${files.map((f) => `  ${f}\n`).join("")}hand each share to its custodian, then delete it here\n`,
    );
}

export async function recoveryInit(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(argv, INIT_OPTIONS, { positionals: 0 });
  const cfg = resolveCommon(flags, io.env);
  const paths = recoveryPaths(cfg.home);
  const replace: ReasonName | undefined =
    flags.replace === true ? parseReason((flags.reason as string | undefined) ?? "superseded") : undefined;
  if (flags.reason !== undefined && !replace) throw new UsageError("--reason goes with --replace");
  if (!replace && readRecoveryCert(paths))
    throw new UsageError(
      `recovery is already set up (${paths.cert}); to replace it (new key, new shares) use --replace`,
    );
  const custodians = ((flags.custodian as string[] | undefined) ?? []).map(readCustodian);
  const threshold = Number(requireString(flags, "threshold"));
  const minWait = Number((flags["wait-hours"] as string | undefined) ?? 24);
  if (!Number.isFinite(minWait) || minWait < 0)
    throw new UsageError("--wait-hours must be a number of hours, 0 or more");
  const detail = { custodians: custodians.length, threshold, ...(replace ? { replace } : {}) };
  const setup = await withAuthority(cfg, io, (ca, db) =>
    recordAdminEvent(
      db,
      io,
      { action: "recovery.init", detail },
      () => setUpRecovery(ca, custodians, threshold, replace ? { replace } : {}),
      (s) => ({ serial: s.serial, replaced: s.replaced.join(",") }),
    ),
  );
  const retired = replace ? retireOldSet(paths) : undefined;
  const files = writeSet(paths, setup, minWait);
  report(io, cfg.json, paths, setup, files, threshold, retired);
  return 0;
}
