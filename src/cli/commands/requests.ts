/** `certvault requests list|approve|reject`: parsing and printing around ca/renewal-approval.ts. */
import { resolveCommon } from "../../config/index.js";
import type { CommonConfig } from "../../config/index.js";
import { UsageError } from "../../errors/index.js";
import { CertificateRequestRepository, shownStatus } from "../../store/certificate-requests.js";
import { CertificateRepository } from "../../store/certificates.js";
import { parseDays } from "../../ca/profiles.js";
import { RenewalApproval } from "../../ca/renewal-approval.js";
import { parse, printJson } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t } from "../terminal.js";
import { withAuthority } from "./ca.js";
import { cliAudit } from "./admin-audit.js";

export const REQUESTS_HELP = `usage: certvault requests <command> [--home DIR] [--db FILE|URL]

  list [--json] [--all]        certificate requests waiting for a decision (--all: every one)
  approve ID [--days N]        issues the certificate (client profile; 90 days by default)
  reject ID                    refuses it
`;

function withApproval<T>(cfg: CommonConfig, io: Io, fn: (approval: RenewalApproval) => Promise<T>): Promise<T> {
  return withAuthority(cfg, io, (ca, db) =>
    fn(
      new RenewalApproval({
        ca,
        requests: new CertificateRequestRepository(db),
        registry: new CertificateRepository(db),
        audit: cliAudit(db, io),
        now: () => io.now(),
      }),
    ),
  );
}

async function listCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(argv, { all: { type: "boolean" } }, { positionals: 0 });
  const cfg = resolveCommon(flags, io.env);
  const rows = await withApproval(cfg, io, (approval) => approval.list(flags.all === true));
  const view = rows.map((r) => ({
    id: r.id,
    identity: r.identity,
    status: shownStatus(r, io.now()),
    requestedBy: r.requestedBy,
    createdAt: r.createdAt.toISOString(),
    serial: r.serial,
  }));
  if (cfg.json) printJson(io, view);
  else
    for (const r of view)
      io.out(
        `${t(r.id)}  ${t(r.status.padEnd(8))}  ${t(r.identity)}  asked by ${t(r.requestedBy)} at ${r.createdAt}\n`,
      );
  return 0;
}

async function decideCommand(sub: "approve" | "reject", argv: string[], io: Io): Promise<number> {
  const { flags, positionals } = parse(argv, sub === "approve" ? { days: { type: "string" } } : {}, {
    positionals: 1,
  });
  const cfg = resolveCommon(flags, io.env);
  const id = positionals[0];
  if (id === undefined) throw new UsageError(`usage: certvault requests ${sub} ID`);
  const days = sub === "approve" ? parseDays(flags.days as string | undefined, "client") : 0;
  const result = await withApproval(cfg, io, (approval) =>
    sub === "reject" ? approval.reject(id) : approval.approve(id, days),
  );
  if (cfg.json) printJson(io, result);
  else io.out(`${result.status} ${t(id)}${"serial" in result ? ` (serial ${result.serial})` : ""}\n`);
  return 0;
}

export async function requestsCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    io.out(REQUESTS_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === "list") return listCommand(rest, io);
  if (sub === "approve" || sub === "reject") return decideCommand(sub, rest, io);
  throw new UsageError(`unknown requests command "${sub}"\n${REQUESTS_HELP}`);
}
