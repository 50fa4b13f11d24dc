/**
 * `certvault backup --out FILE`, `certvault backup verify --from FILE` and `certvault restore --from FILE` (SQLite).
 * The work is in store/backup.ts and store/restore.ts; this file parses, audits and prints.
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { resolveCommon } from "../../config/index.js";
import type { CommonConfig } from "../../config/index.js";
import { BackupUnsupportedError, NotFoundError } from "../../errors/index.js";
import { auditPaths } from "../../audit/audit-key.js";
import { AuditRepository } from "../../store/audit.js";
import { createBackup } from "../../store/backup.js";
import type { BackupManifest } from "../../store/backup-format.js";
import { openSqliteFile } from "../../store/backup-sqlite.js";
import { isPostgresUrl, openDatabase } from "../../store/db.js";
import { advanceCrlNumber, restoreBackup, verifyBackup } from "../../store/restore.js";
import type { RestoreResult } from "../../store/restore.js";
import { parse, printJson, requireString } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t } from "../terminal.js";
import { cliActor, recordAdminEvent } from "./admin-audit.js";

export const BACKUP_HELP = `usage: certvault backup --out FILE [--home DIR] [--db FILE] [--force] [--json]
       certvault backup verify --from FILE [--home DIR] [--json]
       certvault restore --from FILE [--home DIR] [--db FILE] [--json]

  backup           a consistent snapshot of the SQLite database while the server keeps serving, with a manifest
                   (time, rows per table, last audit entry and its hash, SHA-256), as one file, mode 0600;
                   refuses to replace an existing FILE unless --force
  backup verify    checks a backup file (digest, snapshot hash, rows, audit chain against HOME/audit/audit.pub)
  restore          onto a database that does not exist yet (refuses, exit 1, if it does); verified first
  Not in a backup: HOME/ca (CA keys), HOME/audit (audit key, anchor), HOME/server (TLS key): back them up apart.
  PostgreSQL: pg_dump / pg_restore, see docs/deploy.md "Backups". Details: docs/operations.md "Backups".
`;

const pgRefusal = (cmd: string): BackupUnsupportedError =>
  new BackupUnsupportedError(
    `certvault ${cmd} handles SQLite databases; for PostgreSQL use pg_dump/pg_restore as docs/deploy.md "Backups" describes, then check the copy with "certvault audit verify --db URL"`,
  );

function summary(m: BackupManifest): string {
  return `${m.tables.records ?? 0} records, ${m.tables.certificates ?? 0} certificates, audit up to entry ${m.audit.lastSeq}, taken ${m.createdAt}, sha256 ${m.database.sha256}`;
}

async function takeBackup(cfg: CommonConfig, out: string, force: boolean, io: Io): Promise<BackupManifest> {
  if (!existsSync(cfg.db)) throw new NotFoundError(`no database at ${cfg.db} (give --home or --db)`);
  const db = openSqliteFile(cfg.db);
  try {
    return await recordAdminEvent(
      db,
      io,
      { action: "backup.create", detail: { out } },
      () => createBackup({ db, sourcePath: cfg.db, out, force }),
      (m) => ({
        lastSeq: m.audit.lastSeq,
        sha256: m.database.sha256,
      }),
    );
  } finally {
    await db.destroy();
  }
}

async function verifyCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(argv, { from: { type: "string" } }, { positionals: 0 });
  const cfg = resolveCommon(flags, io.env);
  const from = resolve(requireString(flags, "from"));
  const r = await verifyBackup(from, tmpdir(), auditPaths(cfg.home));
  if (cfg.json) printJson(io, { ok: true, file: from, manifest: r.manifest, audit: r.audit });
  else
    io.out(
      `ok ${t(from)}: ${t(summary(r.manifest))}; audit chain ok, ${r.audit.entries} entries (${r.audit.checkpoints} signed checkpoints)\n`,
    );
  return 0;
}

export async function backupCommand(argv: string[], io: Io): Promise<number> {
  if (argv[0] === "verify") return verifyCommand(argv.slice(1), io);
  const { flags } = parse(
    argv,
    { out: { type: "string" }, force: { type: "boolean" } },
    { positionals: 0, help: BACKUP_HELP },
  );
  const cfg = resolveCommon(flags, io.env);
  if (isPostgresUrl(cfg.db)) throw pgRefusal("backup");
  const out = resolve(requireString(flags, "out"));
  const m = await takeBackup(cfg, out, flags.force === true, io);
  if (cfg.json) printJson(io, { file: out, manifest: m });
  else io.out(`backup written to ${t(out)}: ${t(summary(m))}\n`);
  return 0;
}

/**
 * After the restore: the CRL number moves past what the lost node may have issued, and the restore itself goes into
 * the restored trail, linked onto the backup's last entry.
 */
async function finishRestore(cfg: CommonConfig, io: Io, from: string, r: RestoreResult): Promise<void> {
  const db = await openDatabase(cfg.db); // migrates a backup of an older schema to this version's
  try {
    const [, crlNumber] = await advanceCrlNumber(db);
    const detail: Record<string, string | number> = {
      from,
      backupCreatedAt: r.manifest.createdAt,
      lastSeq: r.manifest.audit.lastSeq,
      sha256: r.manifest.database.sha256,
      crlNumber,
    };
    if (r.anchorSetAside) detail.lostUpTo = r.anchorSetAside.seq;
    await new AuditRepository(db).append([
      { time: new Date(), actor: cliActor(io), action: "backup.restore", status: 0, detail },
    ]);
  } finally {
    await db.destroy();
  }
}

export async function restoreCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(argv, { from: { type: "string" } }, { positionals: 0, help: BACKUP_HELP });
  const cfg = resolveCommon(flags, io.env);
  if (isPostgresUrl(cfg.db)) throw pgRefusal("restore");
  const from = resolve(requireString(flags, "from"));
  const r = await restoreBackup({ from, target: cfg.db, audit: auditPaths(cfg.home) });
  const a = r.anchorSetAside;
  if (a) {
    io.err(
      `certvault: the audit anchor covered entries up to ${a.seq}, written after this backup (which ends at ${r.manifest.audit.lastSeq}): those entries were lost with the old database. The anchor was moved to ${t(a.path)}\n`,
    );
  }
  await finishRestore(cfg, io, from, r);
  if (cfg.json) printJson(io, { database: cfg.db, manifest: r.manifest, audit: r.audit, anchorSetAside: a ?? null });
  else
    io.out(
      `restored ${t(cfg.db)} from ${t(from)}: ${t(summary(r.manifest))}; audit chain ok, ${r.audit.entries} entries (${r.audit.checkpoints} signed checkpoints)\n`,
    );
  return 0;
}
