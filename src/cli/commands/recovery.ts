/**
 * `certvault recovery init|request|open-share` and `certvault recover`: recovery of a lost key without a back door.
 * See docs/key-lifecycle.md.
 */
import { readFileSync } from "node:fs";
import { resolveCommon } from "../../config/index.js";
import type { CommonConfig } from "../../config/index.js";
import { resolveRecovery } from "../../config/commands.js";
import { UsageError } from "../../errors/index.js";
import { writeSecretFile } from "../../files/secret-file.js";
import { open } from "../../envelope/index.js";
import { FileKeyStore, profilePaths } from "../../client-sdk/index.js";
import { RecordRepository } from "../../store/records.js";
import { RecoveryRequestRepository } from "../../store/recovery-requests.js";
import { CertificateRepository } from "../../store/certificates.js";
import { readRecoveryCert, readRecoveryPolicy, recoveryPaths } from "../../recovery/recovery-files.js";
import { RecoveryService } from "../../recovery/recovery-service.js";
import { waitHoursFor } from "../../recovery/waiting-period.js";
import { parse, printJson, requireString } from "../command-io.js";
import type { Io } from "../command-io.js";
import { obtainPassphrase } from "../passphrase.js";
import { withAuthority } from "./ca.js";
import { cliActor, cliAudit } from "./admin-audit.js";
import { recoveryInit } from "./recovery-init.js";
import { recoveryPinCommand } from "./user.js";
import { safeForTerminal } from "../terminal.js";

export const RECOVERY_HELP = `usage: certvault recovery <command> [--home DIR] [--db FILE|URL]

  init --custodian CERT --custodian CERT... --threshold K [--wait-hours N] [--replace [--reason R]]
        (N: the waiting period between \`recovery request\` and \`recover\`, 24 by default; \`recover\` cannot shorten it)
        makes the recovery key, its certificate (HOME/ca/recovery.crt) and one share per custodian
        (HOME/recovery/share-N-CUSTODIAN.p7m, sealed to that custodian's certificate); the key is never stored whole.
        Each custodian must be an active client certificate of this CA; distinct identities and keys; K <= custodians.
        --replace: revokes the active recovery certificate (R: superseded by default, or keyCompromise) and sets up a
        new one with new shares; the old certificate and shares move to HOME/recovery/retired-TIME/
  open-share --share FILE --profile DIR --out FILE
        a custodian opens their share with their own key (or: openssl cms -decrypt -inform DER ...)
  request --identity NAME
        starts the waiting period before \`certvault recover\` may run for NAME
  pin --profile DIR [--server URL] --fingerprint SHA256
        (a user) pins the recovery certificate the server names in DIR/trust.json, after verifying it; the SDK seals
        to it only once pinned and never to another (give the fingerprint the administrator published)

usage: certvault recover --identity NAME --to-cert FILE --share FILE --share FILE... [--wait-hours N]
        with K opened shares, wraps every recoverable record of NAME for its new certificate (default wait: 24 h)
`;

function withRecovery<T>(cfg: CommonConfig, io: Io, fn: (recovery: RecoveryService) => Promise<T>): Promise<T> {
  return withAuthority(cfg, io, (_ca, db) =>
    fn(
      new RecoveryService({
        requests: new RecoveryRequestRepository(db),
        registry: new CertificateRepository(db),
        records: new RecordRepository(db),
        audit: cliAudit(db, io),
        now: () => io.now(),
      }),
    ),
  );
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    throw new UsageError(`cannot read ${what} ${path}`);
  }
}

export async function recoveryCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    io.out(RECOVERY_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === "init") return recoveryInit(rest, io);
  if (sub === "pin") return recoveryPinCommand(rest, io);
  if (sub === "open-share") {
    const { flags } = parse(
      rest,
      { share: { type: "string" }, profile: { type: "string" }, out: { type: "string" } },
      { positionals: 0 },
    );
    const cfg = resolveCommon(flags, io.env);
    const profile = profilePaths(requireString(flags, "profile"));
    const key = await new FileKeyStore(profile.key).load(() =>
      obtainPassphrase(cfg, io, { prompt: "Custodian key passphrase: " }),
    );
    const share = open(
      new Uint8Array(readFile(requireString(flags, "share"), "the share")),
      key,
      readFile(profile.cert, "the custodian certificate").toString("utf8"),
    );
    writeSecretFile(requireString(flags, "out"), share);
    share.fill(0);
    io.out(
      `opened the share into ${String(flags.out)} (mode 0600); give it to the recovery operator, then delete it\n`,
    );
    return 0;
  }
  if (sub === "request") {
    const { flags } = parse(rest, { identity: { type: "string" } }, { positionals: 0 });
    const cfg = resolveCommon(flags, io.env);
    const identity = requireString(flags, "identity");
    await withRecovery(cfg, io, (recovery) => recovery.request(identity, cliActor(io)));
    io.out(
      `recovery of "${safeForTerminal(identity)}" requested; \`certvault recover\` may run once the waiting period has passed\n`,
    );
    return 0;
  }
  throw new UsageError(`unknown recovery command "${sub}"\n${RECOVERY_HELP}`);
}

export async function recoverCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(
    argv,
    {
      identity: { type: "string" },
      "to-cert": { type: "string" },
      share: { type: "string", multiple: true },
      "wait-hours": { type: "string" },
    },
    { positionals: 0 },
  );
  const cfg = resolveRecovery(flags, io.env);
  const identity = requireString(flags, "identity");
  const newCertPem = readFile(requireString(flags, "to-cert"), "the new certificate").toString("utf8");
  const waitHours = waitHoursFor(cfg.waitHours, readRecoveryPolicy(recoveryPaths(cfg.home)));
  const recoveryCertPem = readRecoveryCert(recoveryPaths(cfg.home));
  if (!recoveryCertPem) throw new UsageError("recovery is not set up here: run `certvault recovery init` first");
  const shares = ((flags.share as string[] | undefined) ?? []).map((f) => new Uint8Array(readFile(f, "the share")));
  let result;
  try {
    result = await withRecovery(cfg, io, (recovery) =>
      recovery.recover({ identity, newCertPem, shares, waitHours, recoveryCertPem }),
    );
  } finally {
    for (const s of shares) s.fill(0);
  }
  if (cfg.json)
    printJson(io, { rewrapped: result.rewrapped, skipped: result.skipped, notRecoverable: result.notRecoverable });
  else
    io.out(
      `recovered "${safeForTerminal(identity)}": ${result.rewrapped} records re-wrapped for the new certificate, ${result.skipped} already done, ${result.notRecoverable} stored before recovery was set up (not recoverable)\n`,
    );
  return 0;
}
