/**
 * `certvault enroll`: a complete profile from a one-time token (client-sdk/enroll.ts): the key is made here, the
 * enrollment server is checked against the root fingerprint the admin gave before the token is sent.
 * The token may come from --token TOKEN (the contract's spelling; it shows in `ps`), --token-file FILE or env
 * CERTVAULT_TOKEN (both keep it out of the process list).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { resolveEnroll } from "../../config/commands.js";
import { parseKeyType } from "../../keys/key-types.js";
import { enroll } from "../../client-sdk/enroll.js";
import { normalizeFingerprint } from "../../client-sdk/trust-state.js";
import { UsageError } from "../../errors/index.js";
import { parse, printJson, requireString } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t } from "../terminal.js";
import { obtainPassphrase } from "../passphrase.js";

export const ENROLL_HELP = `usage: certvault enroll --server ENROLL_URL (--token-file F | --token TOKEN) --fingerprint SHA256 --out DIR
                        [--key-type ec-p256|ec-p384|rsa-3072] [--passphrase-file F] [--json]

  ENROLL_URL      what the server prints as "enrollment on https://HOST:PORT"
  --token-file F  the one-time token from "certvault ca token" (or env CERTVAULT_TOKEN; --token TOKEN works too,
                  but shows in the process list)
  --fingerprint   the root's SHA-256 as your admin gave it (openssl's AB:CD:... form or plain hex): the token is
                  sent only to a server whose certificate chains to exactly that root
  --out DIR       the new profile: key.pem (encrypted with your passphrase, 0600), cert.pem, ca.pem, config.json
`;

function tokenFrom(flags: Record<string, unknown>, tokenEnv: string | undefined): string {
  const given = [flags.token, flags["token-file"]].filter((v) => v !== undefined).length;
  if (given > 1) throw new UsageError("give either --token or --token-file, not both");
  if (typeof flags["token-file"] === "string") {
    try {
      return readFileSync(flags["token-file"], "utf8").trim();
    } catch {
      throw new UsageError(`cannot read the token file ${flags["token-file"]}`);
    }
  }
  if (typeof flags.token === "string") return flags.token.trim();
  if (tokenEnv) return tokenEnv;
  throw new UsageError(
    `an enrollment token is required: --token-file F, env CERTVAULT_TOKEN or --token TOKEN\n${ENROLL_HELP}`,
  );
}

export async function enrollCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(
    argv,
    {
      server: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      fingerprint: { type: "string" },
      out: { type: "string" },
      "key-type": { type: "string" },
    },
    { positionals: 0, help: ENROLL_HELP },
  );
  const cfg = resolveEnroll(flags, io.env);
  const server = requireString(flags, "server");
  const dir = requireString(flags, "out");
  let fingerprint: string;
  try {
    fingerprint = normalizeFingerprint(requireString(flags, "fingerprint"));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const token = tokenFrom(flags, cfg.tokenEnv);
  const keyType = parseKeyType(flags["key-type"] as string | undefined);
  const passphrase = await obtainPassphrase(cfg, io, { prompt: "New key passphrase: ", confirm: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const r = await enroll({ server, token, fingerprint, dir, keyType, passphrase });
  if (cfg.json)
    printJson(io, {
      identity: r.identity,
      serial: r.serial,
      server: r.server,
      key: r.paths.key,
      cert: r.paths.cert,
      ca: r.paths.ca,
      config: r.paths.config,
    });
  else io.out(`enrolled as ${t(r.identity)} (certificate ${r.serial}); profile in ${dir} (server ${t(r.server)})\n`);
  if (r.recoveryFingerprint)
    io.err(
      `enroll: pinned the recovery certificate SHA-256 ${r.recoveryFingerprint} in ${dir}/trust.json (compare it with the one your administrator published)\n`,
    );
  return 0;
}
