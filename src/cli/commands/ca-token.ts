/**
 * `certvault ca token`: one-time enrollment tokens (admin). Issue one for an identity (printed once, with the root's
 * SHA-256 fingerprint the user must pin), revoke one by id, list them (never the token: the database has only its
 * hash). Issue and revoke are audited as CA operations (attempt, then done or failed); expired unused tokens are
 * written to the audit trail whenever this command runs (and by the server).
 */
import { resolveCommon } from "../../config/index.js";
import { caPaths, readCaCertificates } from "../../ca/ca-files.js";
import { fingerprintOf } from "../../ca/authority.js";
import { opensslFingerprint, parseTtl, TOKEN_ID_SHAPE } from "../../ca/enrollment-token.js";
import { auditExpiredTokens, describeToken, issueToken, revokeToken } from "../../ca/enrollment.js";
import { openDatabase } from "../../store/db.js";
import { AuditRepository } from "../../store/audit.js";
import { EnrollmentTokenRepository } from "../../store/enrollment-tokens.js";
import { UsageError } from "../../errors/index.js";
import { parse, printJson } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t } from "../terminal.js";
import { cliActor, cliAudit, recordAdminEvent } from "./admin-audit.js";

export const CA_TOKEN_HELP = `usage: certvault ca token --name IDENTITY [--ttl DURATION] [--json]   a one-time enrollment token (printed once)
       certvault ca token --revoke ID [--json]
       certvault ca token --list [--json]

  --ttl DURATION   how long the token can be used: 30m, 1h (default), 2d... from 1m to 7d
  The user enrolls with: certvault enroll --server ENROLL_URL --token-file FILE --fingerprint SHA256 --out DIR
  (ENROLL_URL is what "certvault server --enroll-port PORT" prints as "enrollment on ...").
  Give the token and the fingerprint to the user yourself; the fingerprint must never come from the server.
`;

export async function caTokenCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(
    argv,
    { name: { type: "string" }, ttl: { type: "string" }, revoke: { type: "string" }, list: { type: "boolean" } },
    { positionals: 0, help: CA_TOKEN_HELP },
  );
  const modes = [flags.name !== undefined, flags.revoke !== undefined, flags.list === true].filter(Boolean).length;
  if (modes !== 1) throw new UsageError(`give exactly one of --name IDENTITY, --revoke ID or --list\n${CA_TOKEN_HELP}`);
  if (flags.ttl !== undefined && flags.name === undefined) throw new UsageError("--ttl goes with --name");
  const cfg = resolveCommon(flags, io.env);
  const ttlMs = flags.name !== undefined ? parseTtl(flags.ttl as string | undefined) : 0;
  // The CA must exist here: its root is what the user pins.
  const certs = readCaCertificates(caPaths(cfg.home));
  const db = await openDatabase(cfg.db);
  try {
    const repo = new EnrollmentTokenRepository(db);
    const audit = new AuditRepository(db);
    const actor = cliActor(io);
    const now = new Date();
    await auditExpiredTokens(repo, async (e) => void (await audit.append([e])), actor, now);

    if (typeof flags.name === "string") {
      const identity = flags.name;
      const issued = await recordAdminEvent(
        db,
        io,
        { action: "enroll.token.issue", detail: { identity, ttlSeconds: Math.round(ttlMs / 1000) } },
        () => issueToken(repo, { identity, ttlMs, actor, now }),
        (r) => ({ tokenId: r.id, expiresAt: r.expiresAt.toISOString() }),
      );
      const fingerprint = opensslFingerprint(fingerprintOf(certs.root));
      if (cfg.json) {
        printJson(io, {
          id: issued.id,
          identity: issued.identity,
          token: issued.token,
          fingerprint,
          expiresAt: issued.expiresAt.toISOString(),
        });
      } else {
        io.out(
          [
            `enrollment token for ${t(issued.identity)} (id ${issued.id}), valid until ${issued.expiresAt.toISOString()}, usable once.`,
            "It is shown only now: give it to the user over a private channel, with the root fingerprint below.",
            `token:       ${issued.token}`,
            `fingerprint: ${fingerprint}`,
            "the user runs (token saved in a file, or in env CERTVAULT_TOKEN):",
            `  certvault enroll --server ENROLL_URL --token-file TOKEN_FILE --fingerprint ${fingerprint} --out DIR`,
            "",
          ].join("\n"),
        );
      }
      return 0;
    }

    if (typeof flags.revoke === "string") {
      const id = flags.revoke.trim().toLowerCase();
      if (!TOKEN_ID_SHAPE.test(id))
        throw new UsageError("--revoke takes a token id (32 hex digits, as `ca token --list` shows it)");
      const row = await revokeToken(repo, cliAudit(db, io), id);
      if (cfg.json) printJson(io, row ? describeToken(row, new Date()) : { id });
      else io.out(`revoked enrollment token ${id}${row ? ` (${t(row.identity)})` : ""}\n`);
      return 0;
    }

    const rows = (await repo.list()).map((r) => describeToken(r, now));
    if (cfg.json) printJson(io, rows);
    else
      for (const r of rows)
        io.out(`${r.id}  ${r.status.padEnd(7)}  ${r.createdAt}  ${r.expiresAt}  ${t(r.identity)}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}
