/** `certvault audit verify|export` and `certvault quarantine list|release`. */
import { resolveCommon } from "../../config/index.js";
import { UsageError } from "../../errors/index.js";
import { auditCheckpointsCommand, auditVerifyCommand } from "./audit-verify.js";
import { AuditRepository } from "../../store/audit.js";
import { QuarantineRepository } from "../../store/quarantine.js";
import { openDatabase } from "../../store/db.js";
import type { Db } from "../../store/db.js";
import { parse, printJson } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t, terminalSafeJson } from "../terminal.js";
import { cliAudit } from "./admin-audit.js";
import { releaseQuarantine } from "../../anomaly/release.js";

export const AUDIT_HELP = `usage: certvault audit <command> [--home DIR] [--db FILE|URL]

  verify [--checkpoints FILE]... [--audit-pub FILE] [--hashes-only]
                             checks the hash chain, the signed checkpoints, and that the chain contains every signed
                             checkpoint kept outside the database (HOME/audit/anchor.json, checkpoints.log, FILEs);
                             "ok N entries", exit 0, or exit 1 naming the first entry that was altered, removed or
                             reordered, or saying that no such checkpoint exists (unless --hashes-only, which says so)
  checkpoints [--export FILE|-] [--import FILE] [--audit-pub FILE]
                             every genuine signed checkpoint this node knows, one JSON line each: to stdout, appended
                             to FILE (an append-only copy to ship off the machine), or imported into checkpoints.log
  export [--since ISO8601]   the entries, one JSON object per line (for a SIEM)
`;

export const QUARANTINE_HELP = `usage: certvault quarantine <command> [--home DIR] [--db FILE|URL]

  list [--json]              identities quarantined by the anomaly rules, with the rule and the reason
  release IDENTITY           lets the identity in again (recorded in the audit log)
`;

async function withDb<T>(db: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const handle = await openDatabase(db);
  try {
    return await fn(handle);
  } finally {
    await handle.destroy();
  }
}

export async function auditCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    io.out(AUDIT_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === "verify") return auditVerifyCommand(rest, io);
  if (sub === "checkpoints") return auditCheckpointsCommand(rest, io);
  if (sub === "export") {
    const { flags } = parse(rest, { since: { type: "string" } }, { positionals: 0 });
    const cfg = resolveCommon(flags, io.env);
    const since = flags.since === undefined ? new Date(0) : new Date(flags.since as string);
    if (Number.isNaN(since.getTime()))
      throw new UsageError("--since must be an ISO 8601 date, e.g. 2026-11-23T00:00:00Z");
    const entries = await withDb(cfg.db, (db) => new AuditRepository(db).since(since));
    for (const e of entries) io.out(terminalSafeJson({ ...e, time: e.time.toISOString() }) + "\n");
    return 0;
  }
  throw new UsageError(`unknown audit command "${sub}"\n${AUDIT_HELP}`);
}

export async function quarantineCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    io.out(QUARANTINE_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === "list") {
    const { flags } = parse(rest, {}, { positionals: 0 });
    const cfg = resolveCommon(flags, io.env);
    const rows = await withDb(cfg.db, (db) => new QuarantineRepository(db).list());
    if (cfg.json)
      printJson(
        io,
        rows.map((q) => ({ ...q, since: q.since.toISOString() })),
      );
    else
      for (const q of rows) io.out(`${t(q.identity)}  ${t(q.rule)}  since ${q.since.toISOString()}  ${t(q.reason)}\n`);
    return 0;
  }
  if (sub === "release") {
    const { flags, positionals } = parse(rest, {}, { positionals: 1 });
    const cfg = resolveCommon(flags, io.env);
    const identity = positionals[0];
    if (identity === undefined) throw new UsageError("usage: certvault quarantine release IDENTITY");
    const released = await withDb(cfg.db, (db) =>
      releaseQuarantine(new QuarantineRepository(db), cliAudit(db, io), identity),
    );
    if (!released) {
      io.err(`certvault: "${t(identity)}" is not quarantined\n`);
      return 1;
    }
    if (cfg.json) printJson(io, { identity, released: true });
    else io.out(`released ${t(identity)}\n`);
    return 0;
  }
  throw new UsageError(`unknown quarantine command "${sub}"\n${QUARANTINE_HELP}`);
}
