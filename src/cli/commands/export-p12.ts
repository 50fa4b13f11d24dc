/**
 * `certvault export-p12 --profile DIR --out FILE [--passphrase-file F] [--p12-passphrase-file F2] [--chain FILE]...`:
 * the profile's key, certificate and chain as a PKCS#12 file (keys/pkcs12.ts: AES-256-CBC, PBKDF2-HMAC-SHA256,
 * HMAC-SHA256 MAC) that browsers, OS keychains, NSS and curl import. Mode 0600, written atomically, never over an
 * existing file unless --force.
 *
 * Chain: a profile holds the root (ca.pem) and the certificate (cert.pem); the issuing CA (intermediate) is there only
 * when ca.pem or cert.pem carries it. The file gets the leaf, every issuing CA found (in cert.pem, ca.pem or --chain
 * FILE), then the root. Without the intermediate we say so on stderr: certvault's server knows its intermediate and
 * accepts the leaf alone, but other relying parties may need it (`--chain intermediate.crt`, from the admin).
 */
import { X509Certificate, createPublicKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { profilePaths } from "../../client-sdk/index.js";
import { FileKeyStore } from "../../client-sdk/keystore.js";
import { InvalidInputError, UsageError } from "../../errors/index.js";
import { resolveCommon } from "../../config/index.js";
import {
  buildPkcs12,
  PKCS12_DEFAULT_ITERATIONS,
  PKCS12_MAX_ITERATIONS,
  PKCS12_MIN_ITERATIONS,
} from "../../keys/pkcs12.js";
import { writeSecretFile } from "../../files/secret-file.js";
import { x509 } from "../../x509/x509.js";
import { parse, printJson, requireString } from "../command-io.js";
import type { Io } from "../command-io.js";
import { obtainPassphrase, readPassphraseFile } from "../passphrase.js";
import { safeForTerminal as t } from "../terminal.js";

export const EXPORT_P12_USAGE =
  "usage: certvault export-p12 --profile DIR --out FILE [--passphrase-file F] [--p12-passphrase-file F2] [--chain FILE]... [--iterations N] [--force]";

const OPTIONS = {
  profile: { type: "string" },
  out: { type: "string" },
  "p12-passphrase-file": { type: "string" },
  chain: { type: "string", multiple: true },
  iterations: { type: "string" },
  force: { type: "boolean" },
} as const;

function certificatesIn(path: string, what: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new InvalidInputError(`cannot read ${what}: ${path}`);
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    throw new InvalidInputError(`${what} holds a certificate that cannot be parsed: ${path}`);
  }
}

const selfSigned = (c: X509Certificate): boolean => c.checkIssued(c) && c.verify(c.publicKey);
const issues = (parent: X509Certificate, child: X509Certificate): boolean =>
  parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);

/** The leaf, then the issuing CAs up to a root, from the certificates at hand (signatures checked, loops cut). */
export function buildChain(
  leaf: X509Certificate,
  pool: readonly X509Certificate[],
): { path: X509Certificate[]; complete: boolean } {
  const path = [leaf];
  for (let current = leaf; !selfSigned(current) && path.length < 8;) {
    const parent = pool.find((c) => issues(c, current) && !path.some((p) => p.raw.equals(c.raw)));
    if (!parent) return { path, complete: false };
    path.push(parent);
    current = parent;
  }
  return { path, complete: true };
}

/** The PKCS#12 passphrase from --p12-passphrase-file (an empty file is refused), else the prompt comes later. */
function p12PassphraseFromFile(file: string | undefined, io: Io): string | undefined {
  if (file) return readPassphraseFile(file);
  if (!io.stdinIsTTY)
    throw new UsageError(
      "the PKCS#12 passphrase is required: use --p12-passphrase-file FILE (it is never an argument)",
    );
  return undefined;
}

/** Asked twice on the terminal; never empty. */
async function promptP12Passphrase(io: Io): Promise<string> {
  const p = await obtainPassphrase({ passphraseFile: undefined, passphraseEnv: undefined }, io, {
    prompt: "New PKCS#12 passphrase: ",
    confirm: true,
  });
  if (p.length === 0) throw new UsageError("the PKCS#12 passphrase must not be empty");
  return p;
}

function parseIterations(raw: string | undefined): number {
  if (raw === undefined) return PKCS12_DEFAULT_ITERATIONS;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= PKCS12_MIN_ITERATIONS && n <= PKCS12_MAX_ITERATIONS))
    throw new UsageError(`--iterations must be a number from ${PKCS12_MIN_ITERATIONS} to ${PKCS12_MAX_ITERATIONS}`);
  return n;
}

export async function exportP12Command(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(argv, OPTIONS, { positionals: 0, help: `${EXPORT_P12_USAGE}\n` });
  const cfg = resolveCommon(flags, io.env);
  const paths = profilePaths(requireString(flags, "profile"));
  const out = requireString(flags, "out");
  const iterations = parseIterations(flags.iterations as string | undefined);
  if (existsSync(out) && !flags.force)
    throw new InvalidInputError(`refusing to overwrite ${out} (--force replaces it)`);
  const p12FromFile = p12PassphraseFromFile(flags["p12-passphrase-file"] as string | undefined, io);

  const [leaf, ...certExtras] = certificatesIn(paths.cert, "the certificate (cert.pem)");
  if (!leaf) throw new InvalidInputError(`the certificate (cert.pem) holds no certificate: ${paths.cert}`);
  const caCerts = certificatesIn(paths.ca, "the CA root (ca.pem)");
  const extra = ((flags.chain as string[] | undefined) ?? []).flatMap((f) => certificatesIn(f, "--chain"));
  const root = caCerts.find(selfSigned);
  if (!root) throw new InvalidInputError(`ca.pem holds no root (self-signed) certificate: ${paths.ca}`);
  const { path, complete } = buildChain(leaf, [...certExtras, ...caCerts, ...extra]);
  if (!complete) {
    // What is available: the leaf and the profile's root, and a note on what is missing.
    path.push(root);
    io.err(
      `certvault: note: the profile holds no certificate of the CA that issued ${t(leaf.issuer.replace(/\n/g, ", "))} (the intermediate); ` +
        `the file carries the certificate and the root only. certvault's server accepts that; for other services add --chain intermediate.crt (from your admin)\n`,
    );
  }

  const passphrase = await obtainPassphrase(cfg, io, { prompt: "Key passphrase: " });
  const key = await new FileKeyStore(paths.key).load(() => passphrase); // a wrong passphrase: BadPassphraseError, exit 1
  const spki = (k: ReturnType<typeof createPublicKey>): Buffer => k.export({ format: "der", type: "spki" });
  if (!spki(createPublicKey(key)).equals(spki(leaf.publicKey))) {
    throw new InvalidInputError(`cert.pem is not the certificate of key.pem in ${paths.dir}`);
  }
  const peculiarLeaf = new x509.X509Certificate(leaf.raw);
  const identity = peculiarLeaf.subjectName.getField("CN")[0];
  if (!identity) throw new InvalidInputError("the certificate has no subject CN (the identity)");
  if (Date.parse(leaf.validTo) < Date.now()) io.err(`certvault: note: the certificate expired on ${leaf.validTo}\n`);

  const password = p12FromFile ?? (await promptP12Passphrase(io));
  const der = await buildPkcs12({
    key,
    certificates: path.map((c) => new Uint8Array(c.raw)),
    friendlyName: identity,
    password,
    iterations,
  });
  writeSecretFile(out, der, { overwrite: Boolean(flags.force) });

  const summary = {
    out,
    friendlyName: identity,
    serial: peculiarLeaf.serialNumber.toLowerCase(),
    certificates: path.length,
    chainComplete: complete,
    iterations,
  };
  if (cfg.json) printJson(io, summary);
  else
    io.out(
      `wrote ${t(out)} (PKCS#12, AES-256-CBC, PBKDF2-HMAC-SHA256, ${path.length} certificate${path.length === 1 ? "" : "s"}, friendly name "${t(identity)}", mode 0600)\n`,
    );
  return 0;
}
