/**
 * The `certvault` command: dispatches to one module per command group; turns every error into one line on stderr
 * and the contract's exit status (0 ok, 1 refused or failed, 2 usage).
 */
import { asCertvaultError } from "../errors/index.js";
import { processIo } from "./cli.js";
import type { Io } from "./cli.js";
import { USER_HELP } from "./commands/user-help.js";
import { safeForTerminal, safeLines } from "./terminal.js";

export const HELP = `usage: certvault <command> [options]

Admin (the CA):
  ca init | ca issue | ca revoke | ca crl | ca list | ca show     run "certvault ca --help" for details
  ca token --name IDENTITY [--ttl 1h] | --revoke ID | --list      one-time enrollment tokens (certvault enroll)

Server:
  server [--host 127.0.0.1] [--port 8443] [--db FILE|URL] [--max-record-bytes N] [--admin IDENTITY]...
         [--rate-limit-identity N/S] [--rate-limit-source N/S] [--anomaly-config FILE] [--alert-webhook URL]
         [--enroll-port PORT]                                     also serve enrollment with one-time tokens
  dev                                                             what "npm start" runs: dev CA, demo profile, server

Renewal requests (made with "certvault renew"):
  requests list | requests approve ID [--days N] | requests reject ID

Recovery of lost keys (K of N custodians, never one master key):
  recovery init --custodian CERT... --threshold K | recovery open-share | recovery request --identity NAME
  recover --identity NAME --to-cert FILE --share FILE...           run "certvault recovery --help" for details

Audit and abuse controls:
  audit verify | audit export [--since ISO8601]                   run "certvault audit --help" for details
  quarantine list | quarantine release IDENTITY                   identities stopped by the anomaly rules

Backups (SQLite; PostgreSQL: pg_dump, see docs/deploy.md):
  backup --out FILE | backup verify --from FILE | restore --from FILE   run "certvault backup --help" for details

${USER_HELP}
Common options: --home DIR (env CERTVAULT_HOME, default ./.certvault), --json, --passphrase-file FILE
Secrets are never arguments: --passphrase-file FILE or env CERTVAULT_PASSPHRASE.
Exit status: 0 success, 1 refused or failed, 2 usage error.
`;

type Command = (argv: string[], io: Io) => Promise<number>;
// Loaded on demand: `ca list` need not load Koa, and the server need not load the SDK.
const COMMANDS: Record<string, () => Promise<Command>> = {
  ca: async () => (await import("./commands/ca.js")).caCommand,
  server: async () => (await import("./commands/server.js")).serverCommand,
  dev: async () => (await import("./commands/dev.js")).devCommand,
  keygen: async () => (await import("./commands/user.js")).keygenCommand,
  enroll: async () => (await import("./commands/enroll.js")).enrollCommand,
  put: async () => (await import("./commands/user.js")).putCommand,
  get: async () => (await import("./commands/user.js")).getCommand,
  ls: async () => (await import("./commands/user.js")).lsCommand,
  rm: async () => (await import("./commands/user.js")).rmCommand,
  rotate: async () => (await import("./commands/user.js")).rotateCommand,
  renew: async () => (await import("./commands/user.js")).renewCommand,
  share: async () => (await import("./commands/user.js")).shareCommand,
  unshare: async () => (await import("./commands/user.js")).unshareCommand,
  "export-p12": async () => (await import("./commands/export-p12.js")).exportP12Command,
  requests: async () => (await import("./commands/requests.js")).requestsCommand,
  recovery: async () => (await import("./commands/recovery.js")).recoveryCommand,
  recover: async () => (await import("./commands/recovery.js")).recoverCommand,
  audit: async () => (await import("./commands/audit.js")).auditCommand,
  quarantine: async () => (await import("./commands/audit.js")).quarantineCommand,
  backup: async () => (await import("./commands/backup.js")).backupCommand,
  restore: async () => (await import("./commands/backup.js")).restoreCommand,
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(HELP);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.err(`certvault: unknown command "${safeForTerminal(name)}"\n${HELP}`);
    return 2;
  }
  try {
    return await (
      await load()
    )(rest, io);
  } catch (err) {
    const e = asCertvaultError(err);
    // Messages may carry text from the server, the database or a certificate: escaped, one line (usage errors
    // keep their line breaks: they end in the command's help).
    const message = `${e.message}${e.code === "internal_error" && err instanceof Error ? ` (${err.message})` : ""}`;
    io.err(`certvault: ${e.code === "usage_error" ? safeLines(message) : safeForTerminal(message)}\n`);
    return e.exitCode;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
