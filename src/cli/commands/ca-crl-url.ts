/**
 * `certvault ca set-crl-url (URL | --clear)`: the CRL distribution point of an existing CA (ca/crl-url.ts). Only
 * certificates issued afterwards carry it; the change is audited as ca.crl_url. Needs no passphrase: it signs nothing.
 */
import { resolveCommon } from "../../config/index.js";
import { caPaths, readCaCertificates } from "../../ca/ca-files.js";
import { parseCrlUrl, readCrlUrl, writeCrlUrl } from "../../ca/crl-url.js";
import { UsageError } from "../../errors/index.js";
import { openDatabase } from "../../store/db.js";
import { parse, printJson } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t } from "../terminal.js";
import { recordAdminEvent } from "./admin-audit.js";

const USAGE = "usage: certvault ca set-crl-url (URL | --clear) [--home DIR] [--db FILE|URL] [--json]";

export async function caSetCrlUrlCommand(argv: string[], io: Io): Promise<number> {
  const { flags, positionals } = parse(argv, { clear: { type: "boolean" } }, { positionals: 1 });
  const cfg = resolveCommon(flags, io.env);
  const clear = flags.clear === true;
  if (clear === (positionals[0] !== undefined)) throw new UsageError(USAGE);
  const url = clear ? undefined : parseCrlUrl(positionals[0] as string);
  const paths = caPaths(cfg.home);
  readCaCertificates(paths); // ca_missing (exit 1) before anything is written
  const previous = readCrlUrlOrNone(paths);
  const db = await openDatabase(cfg.db);
  try {
    await recordAdminEvent(
      db,
      io,
      { action: "ca.crl_url", detail: { url: url ?? "", previous: previous ?? "" } },
      async () => writeCrlUrl(paths, url),
    );
  } finally {
    await db.destroy();
  }
  if (cfg.json) printJson(io, { crlUrl: url ?? null, previous: previous ?? null });
  else
    io.out(
      url === undefined
        ? "CRL distribution point removed: certificates issued from now on carry none\n"
        : `certificates issued from now on name ${t(url)} as their CRL distribution point\n`,
    );
  return 0;
}

/** A damaged crl.json is what this command repairs, so it does not stop it. */
function readCrlUrlOrNone(paths: ReturnType<typeof caPaths>): string | undefined {
  try {
    return readCrlUrl(paths);
  } catch {
    return undefined;
  }
}
