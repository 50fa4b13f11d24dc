/**
 * The `certvault` command's dispatch: the command table (one module per command group, loaded on demand), `--help`
 * at every level, and every error turned into one line on stderr and the contract's exit status (0 ok, 1 refused or
 * failed, 2 usage). cli/certvault.ts runs it.
 */
import { asCertvaultError } from "../errors/index.js";
import { HelpRequested, processIo } from "./command-io.js";
import type { Io } from "./command-io.js";
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

export interface CommandEntry {
  /** Loaded on demand: `ca list` need not load Koa, and the server need not load the SDK. */
  load: () => Promise<Command>;
  /** What `certvault NAME [SUB] --help` prints when the (sub)command has no help text of its own. */
  help: () => Promise<string>;
  /** `certvault NAME SUB ...`: each takes --help as well (test/cli/help.test.ts runs them all). */
  subcommands?: readonly string[];
}

const user = () => import("./commands/user.js");
const userHelp = async (): Promise<string> => USER_HELP;
const ca = () => import("./commands/ca.js");
const recovery = () => import("./commands/recovery.js");
const audit = () => import("./commands/audit.js");
const backup = () => import("./commands/backup.js");

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  ca: {
    load: async () => (await ca()).caCommand,
    help: async () => (await ca()).CA_HELP,
    subcommands: ["init", "issue", "revoke", "crl", "list", "show", "set-crl-url", "token"],
  },
  server: {
    load: async () => (await import("./commands/server.js")).serverCommand,
    help: async () => (await import("./commands/server.js")).SERVER_HELP,
  },
  dev: {
    load: async () => (await import("./commands/dev.js")).devCommand,
    help: async () => (await import("./commands/dev.js")).DEV_HELP,
  },
  keygen: { load: async () => (await user()).keygenCommand, help: userHelp },
  enroll: {
    load: async () => (await import("./commands/enroll.js")).enrollCommand,
    help: async () => (await import("./commands/enroll.js")).ENROLL_HELP,
  },
  put: { load: async () => (await user()).putCommand, help: userHelp },
  get: { load: async () => (await user()).getCommand, help: userHelp },
  ls: { load: async () => (await user()).lsCommand, help: userHelp },
  rm: { load: async () => (await user()).rmCommand, help: userHelp },
  rotate: { load: async () => (await user()).rotateCommand, help: userHelp },
  renew: { load: async () => (await user()).renewCommand, help: userHelp },
  share: { load: async () => (await user()).shareCommand, help: userHelp },
  unshare: { load: async () => (await user()).unshareCommand, help: userHelp },
  "export-p12": {
    load: async () => (await import("./commands/export-p12.js")).exportP12Command,
    help: async () => `${(await import("./commands/export-p12.js")).EXPORT_P12_USAGE}\n`,
  },
  requests: {
    load: async () => (await import("./commands/requests.js")).requestsCommand,
    help: async () => (await import("./commands/requests.js")).REQUESTS_HELP,
    subcommands: ["list", "approve", "reject"],
  },
  recovery: {
    load: async () => (await recovery()).recoveryCommand,
    help: async () => (await recovery()).RECOVERY_HELP,
    subcommands: ["init", "open-share", "request", "pin"],
  },
  recover: { load: async () => (await recovery()).recoverCommand, help: async () => (await recovery()).RECOVERY_HELP },
  audit: {
    load: async () => (await audit()).auditCommand,
    help: async () => (await audit()).AUDIT_HELP,
    subcommands: ["verify", "checkpoints", "export"],
  },
  quarantine: {
    load: async () => (await audit()).quarantineCommand,
    help: async () => (await audit()).QUARANTINE_HELP,
    subcommands: ["list", "release"],
  },
  backup: {
    load: async () => (await backup()).backupCommand,
    help: async () => (await backup()).BACKUP_HELP,
    subcommands: ["verify"],
  },
  restore: { load: async () => (await backup()).restoreCommand, help: async () => (await backup()).BACKUP_HELP },
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(HELP);
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    io.err(`certvault: unknown command "${safeForTerminal(name)}"\n${HELP}`);
    return 2;
  }
  try {
    return await (
      await entry.load()
    )(rest, io);
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.out(err.text ?? (await entry.help()));
      return 0;
    }
    const e = asCertvaultError(err);
    // Messages may carry text from the server, the database or a certificate: escaped, one line (usage errors
    // keep their line breaks: they end in the command's help).
    const message = `${e.message}${e.code === "internal_error" && err instanceof Error ? ` (${err.message})` : ""}`;
    io.err(`certvault: ${e.code === "usage_error" ? safeLines(message) : safeForTerminal(message)}\n`);
    return e.exitCode;
  }
}
