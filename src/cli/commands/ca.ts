/** `certvault ca init|issue|revoke|crl|list|show`: parsing and printing around ca/. */
import { readFileSync } from "node:fs";
import { resolveCommon } from "../../config/index.js";
import type { CommonConfig } from "../../config/index.js";
import { CertificateAuthority } from "../../ca/authority.js";
import { initCa } from "../../ca/ca-init.js";
import { caExists, caPaths } from "../../ca/ca-files.js";
import { loadCaSigner, obtainPkcs11Pin } from "../../ca/pkcs11-record.js";
import type { Signer } from "../../ca/sign.js";
import { parseDays, parseProfile } from "../../ca/profiles.js";
import { normalizeSerial } from "../../ca/serial.js";
import { parseKeyType } from "../../keys/key-types.js";
import { writeFileAtomic } from "../../files/secret-file.js";
import { crlPem } from "../../x509/pem.js";
import { openDatabase } from "../../store/db.js";
import { CertificateRepository, statusAt } from "../../store/certificates.js";
import type { CertificateRecord } from "../../store/certificates.js";
import { CaExistsError, CsrRejectedError, UsageError } from "../../errors/index.js";
import { parseCrlUrl, writeCrlUrl } from "../../ca/crl-url.js";
import { parse, printJson, requireString } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t, safeLines, terminalSafeJson } from "../terminal.js";
import { obtainPassphrase } from "../passphrase.js";
import { x509 } from "../../x509/x509.js";
import type { Db } from "../../store/db.js";
import { auditPaths, ensureAuditKey } from "../../audit/audit-key.js";
import { cliAudit, recordAdminEvent } from "./admin-audit.js";

export const CA_HELP = `usage: certvault ca <command> [options]

  init    [--name CN] [--key-type ec-p256|ec-p384|rsa-3072] [--passphrase-file F] [--crl-url http://HOST/PATH]
          [--pkcs11-module PATH --pkcs11-token LABEL --pkcs11-pin-file F]   keys made inside a PKCS#11 token
  issue   --csr FILE --profile client|server [--days N] [--san NAME]... [--out FILE]
  revoke  (--serial HEX | --cert FILE) [--reason REASON]
  crl     [--out FILE] [--days N]
  list    [--json]
  show    SERIAL [--json]
  set-crl-url (URL | --clear)   the CRL distribution point of certificates issued from now on (HOME/ca/crl.json)
  token   --name IDENTITY [--ttl DURATION] [--json] | --revoke ID | --list [--json]   one-time enrollment tokens

common: --home DIR (env CERTVAULT_HOME, default ./.certvault), --db FILE|URL (env CERTVAULT_DB)
token:  issue, revoke and crl of a CA made with --pkcs11-* sign in the token named by HOME/ca/pkcs11.json; its PIN
        from --pkcs11-pin-file F, env CERTVAULT_PKCS11_PIN_FILE or CERTVAULT_PKCS11_PIN (--pkcs11-module and
        --pkcs11-token, env CERTVAULT_PKCS11_MODULE/_TOKEN, override the recorded ones); see docs/hsm.md
`;

const PKCS11_OPTIONS = {
  "pkcs11-module": { type: "string" },
  "pkcs11-token": { type: "string" },
  "pkcs11-pin-file": { type: "string" },
} as const;

export async function withAuthority<T>(
  cfg: CommonConfig,
  io: Io,
  fn: (ca: CertificateAuthority, db: Db) => Promise<T>,
): Promise<T> {
  const paths = caPaths(cfg.home);
  const db = await openDatabase(cfg.db);
  let loaded: Signer | undefined;
  try {
    const ca = new CertificateAuthority({
      paths,
      registry: new CertificateRepository(db),
      audit: cliAudit(db, io),
      now: () => io.now(),
      signer: async () => {
        loaded = await loadCaSigner(paths, {
          passphrase: () =>
            obtainPassphrase({ ...cfg, devPassphraseFile: paths.devPassphrase }, io, { prompt: "CA passphrase: " }),
          pkcs11: cfg.pkcs11,
        });
        return loaded;
      },
    });
    return await fn(ca, db);
  } finally {
    await loaded?.close?.();
    await db.destroy();
  }
}

export function describe(c: CertificateRecord, now = new Date()): Record<string, unknown> {
  return {
    serial: c.serial,
    subject: c.subject,
    identity: c.identity,
    profile: c.profile,
    keyType: c.keyType,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    status: statusAt(c, now),
    revokedAt: c.revokedAt ? c.revokedAt.toISOString() : null,
    revocationReason: c.revocationReason,
    fingerprintSha256: c.fingerprintSha256,
  };
}

function output(io: Io, out: string | undefined, text: string): void {
  if (out) writeFileAtomic(out, text, { mode: 0o644, overwrite: true });
  else io.out(text);
}

/** The `ca` subcommands; `token` and `set-crl-url` are modules of their own, loaded on demand. */
const CA_SUBCOMMANDS: Record<string, (rest: string[], io: Io) => Promise<number>> = {
  init: caInit,
  issue: caIssue,
  revoke: caRevoke,
  crl: caCrl,
  list: caList,
  show: caShow,
  token: async (rest, io) => (await import("./ca-token.js")).caTokenCommand(rest, io),
  "set-crl-url": async (rest, io) => (await import("./ca-crl-url.js")).caSetCrlUrlCommand(rest, io),
};

export async function caCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    io.out(CA_HELP);
    return sub === undefined ? 2 : 0;
  }
  const run = Object.hasOwn(CA_SUBCOMMANDS, sub) ? CA_SUBCOMMANDS[sub] : undefined;
  if (!run) throw new UsageError(`unknown ca command "${sub}"\n${CA_HELP}`);
  return run(rest, io);
}

/** `ca init [--name N] [--key-type T] [--crl-url URL] [--pkcs11-*]`: a new CA, audited. */
async function caInit(rest: string[], io: Io): Promise<number> {
  const { flags } = parse(
    rest,
    { name: { type: "string" }, "key-type": { type: "string" }, "crl-url": { type: "string" }, ...PKCS11_OPTIONS },
    { positionals: 0 },
  );
  const cfg = resolveCommon(flags, io.env);
  const keyType = parseKeyType(flags["key-type"] as string | undefined);
  const crlUrl = flags["crl-url"] === undefined ? undefined : parseCrlUrl(flags["crl-url"] as string);
  // Refuse an existing CA before asking for a passphrase: "a CA exists" is exit 1 also when no passphrase was given.
  if (caExists(caPaths(cfg.home)))
    throw new CaExistsError(`a CA already exists in ${caPaths(cfg.home).dir}; refusing to overwrite it`);
  const pkcs11 = tokenForInit(cfg);
  // With a token the passphrase still protects the audit key (and later the server's TLS key), not the CA keys.
  const passphrase = await obtainPassphrase(cfg, io, { prompt: "New CA passphrase: ", confirm: true });
  // The audit trail first, so that the attempt is recorded before the CA exists.
  const db = await openDatabase(cfg.db);
  let certs;
  try {
    certs = await recordAdminEvent(
      db,
      io,
      { action: "ca.init", detail: { keyType, keys: pkcs11 ? "pkcs11" : "files" } },
      () =>
        initCa(caPaths(cfg.home), {
          name: (flags.name as string | undefined) ?? "certvault",
          keyType,
          passphrase,
          ...(pkcs11 ? { pkcs11 } : {}),
        }),
      (c) => ({ root: c.root.subject }),
    );
  } finally {
    await db.destroy();
  }
  // With key files the audit key is made now, beside them; with a token the server makes it inside the token
  // at its first start (the CA's two keys are all that `ca init` puts there).
  if (!pkcs11) ensureAuditKey(auditPaths(cfg.home), passphrase);
  const paths = caPaths(cfg.home);
  if (crlUrl !== undefined) writeCrlUrl(paths, crlUrl);
  if (cfg.json)
    printJson(io, {
      root: paths.rootCert,
      intermediate: paths.intermediateCert,
      rootSubject: certs.root.subject,
      intermediateSubject: certs.intermediate.subject,
      keyType,
      ...(pkcs11 ? { pkcs11Token: pkcs11.token } : {}),
      ...(crlUrl === undefined ? {} : { crlUrl }),
    });
  else
    io.out(
      `created ${t(certs.root.subject)} and ${t(certs.intermediate.subject)} (${keyType}) in ${paths.dir}${pkcs11 ? `, keys in PKCS#11 token "${pkcs11.token}"` : ""}\n`,
    );
  return 0;
}

/** `ca issue --csr FILE [--profile client|server] [--days N] [--san NAME]... [--out FILE]`. */
async function caIssue(rest: string[], io: Io): Promise<number> {
  const { flags } = parse(
    rest,
    {
      csr: { type: "string" },
      profile: { type: "string" },
      days: { type: "string" },
      san: { type: "string", multiple: true },
      out: { type: "string" },
      ...PKCS11_OPTIONS,
    },
    { positionals: 0 },
  );
  const cfg = resolveCommon(flags, io.env);
  const profile = parseProfile(flags.profile as string | undefined);
  const days = parseDays(flags.days as string | undefined, profile);
  const csrPath = requireString(flags, "csr");
  let csr: Buffer;
  try {
    csr = readFileSync(csrPath);
  } catch {
    throw new UsageError(`cannot read the CSR file ${csrPath}`);
  }
  const issued = await withAuthority(cfg, io, (ca) =>
    ca.issueFromCsr(csr, { profile, days, sans: (flags.san as string[] | undefined) ?? [] }),
  );
  output(
    io,
    flags.out as string | undefined,
    cfg.json && !flags.out ? terminalSafeJson({ ...describe(issued.record), pem: issued.pem }, 2) + "\n" : issued.pem,
  );
  if (flags.out && cfg.json) printJson(io, describe(issued.record));
  return 0;
}

/** `ca revoke (--serial HEX | --cert FILE) [--reason R]`. */
async function caRevoke(rest: string[], io: Io): Promise<number> {
  const { flags } = parse(
    rest,
    { serial: { type: "string" }, cert: { type: "string" }, reason: { type: "string" }, ...PKCS11_OPTIONS },
    { positionals: 0 },
  );
  const cfg = resolveCommon(flags, io.env);
  const serial = serialFromFlags(flags);
  const rec = await withAuthority(cfg, io, (ca) => ca.revoke(serial, flags.reason as string | undefined));
  if (cfg.json) printJson(io, describe(rec));
  else io.out(`revoked ${t(rec.serial)} (${t(rec.subject)}), reason ${t(String(rec.revocationReason))}\n`);
  return 0;
}

/** `ca crl [--out FILE] [--days N]`: a fresh CRL. */
async function caCrl(rest: string[], io: Io): Promise<number> {
  const { flags } = parse(
    rest,
    { out: { type: "string" }, days: { type: "string" }, ...PKCS11_OPTIONS },
    { positionals: 0 },
  );
  const cfg = resolveCommon(flags, io.env);
  const days = flags.days === undefined ? 7 : Number(flags.days);
  if (!Number.isInteger(days) || days < 1 || days > 365)
    throw new UsageError("--days must be a whole number from 1 to 365");
  const crl = await withAuthority(cfg, io, (ca) => ca.crl({ days }));
  output(io, flags.out as string | undefined, crlPem(crl.rawData));
  return 0;
}

/** `ca list`: every certificate the CA issued. */
async function caList(rest: string[], io: Io): Promise<number> {
  const { flags } = parse(rest, {}, { positionals: 0 });
  const cfg = resolveCommon(flags, io.env);
  const all = await withAuthority(cfg, io, (ca) => ca.list());
  const rows = all.map((c) => describe(c));
  if (cfg.json) printJson(io, rows);
  else
    for (const r of rows)
      io.out(
        `${t(String(r.serial))}  ${t(String(r.status).padEnd(7))}  ${t(String(r.profile).padEnd(6))}  ${r.notAfter}  ${t(String(r.subject))}\n`,
      );
  return 0;
}

/** `ca show SERIAL`: one certificate and its PEM. */
async function caShow(rest: string[], io: Io): Promise<number> {
  const { flags, positionals } = parse(rest, {}, { positionals: 1 });
  const cfg = resolveCommon(flags, io.env);
  if (positionals[0] === undefined) throw new UsageError("usage: certvault ca show SERIAL");
  const rec = await withAuthority(cfg, io, (ca) => ca.show(normalizeSerial(positionals[0] as string)));
  if (cfg.json) printJson(io, { ...describe(rec), pem: rec.pem });
  else
    io.out(
      Object.entries(describe(rec))
        .map(([k, v]) => `${k}: ${t(String(v ?? "-"))}`)
        .join("\n") +
        "\n" +
        safeLines(rec.pem),
    );
  return 0;
}

/** `ca init` on a token: module and token both given (flags or env), and a PIN from a file or env. */
function tokenForInit(cfg: CommonConfig): { module: string; token: string; pin: string } | undefined {
  const p = cfg.pkcs11;
  if (!p || (p.module === undefined && p.token === undefined)) return undefined;
  if (!p.module || !p.token)
    throw new UsageError("a CA in a PKCS#11 token needs both --pkcs11-module PATH and --pkcs11-token LABEL");
  return { module: p.module, token: p.token, pin: obtainPkcs11Pin(p) };
}

function serialFromFlags(flags: Record<string, unknown>): string {
  const serial = flags.serial as string | undefined;
  const certPath = flags.cert as string | undefined;
  if ((serial === undefined) === (certPath === undefined))
    throw new UsageError("give exactly one of --serial HEX or --cert FILE");
  if (serial !== undefined) return normalizeSerial(serial);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(readFileSync(certPath as string, "utf8"));
  } catch {
    throw new CsrRejectedError(`cannot read a PEM certificate from ${certPath}`);
  }
  return normalizeSerial(cert.serialNumber);
}
