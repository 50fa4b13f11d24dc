/**
 * `certvault dev` (what `npm start` runs): on a fresh checkout, creates ./.certvault with a CA whose passphrase is
 * kept beside it (development only, and said so), a demo client profile, and starts the server with a curl command
 * that works as printed.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, relative } from "node:path";
import { resolveServer } from "../../config/index.js";
import type { ServerConfig } from "../../config/index.js";
import { CertificateAuthority } from "../../ca/authority.js";
import { initCa } from "../../ca/ca-init.js";
import { cliAudit } from "./admin-audit.js";
import { caPaths, loadIntermediateSigner } from "../../ca/ca-files.js";
import { encryptCryptoKey } from "../../keys/encrypted-pkcs8.js";
import { generateKeyPair } from "../../keys/key-types.js";
import { writeFileAtomic, writeSecretFile } from "../../files/secret-file.js";
import { openDatabase } from "../../store/db.js";
import { CertificateRepository } from "../../store/certificates.js";
import { parse } from "../command-io.js";
import type { Io } from "../command-io.js";
import { SERVER_OPTIONS, launch, runUntilSignal } from "./server.js";

export const DEV_HELP = `usage: certvault dev [server options]   (what "npm start" runs)

  On a fresh checkout: creates ./.certvault (or --home DIR) with a development CA whose passphrase is kept beside it
  in HOME/ca/passphrase (development only), a demo client profile in HOME/demo, then starts the server (127.0.0.1,
  port 8443 or PORT) and prints a curl command that works as printed. Takes the options of "certvault server --help".
`;

async function ensureDevHome(config: ServerConfig, io: Io): Promise<void> {
  const paths = caPaths(config.home);
  if (!existsSync(paths.rootCert)) {
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    const passphrase = randomBytes(24).toString("base64url");
    writeSecretFile(paths.devPassphrase, passphrase + "\n");
    await initCa(paths, { name: "certvault dev", keyType: "ec-p256", passphrase });
    io.out(`created a development CA in ${paths.dir}\n`);
  }
  const demo = join(config.home, "demo");
  if (existsSync(join(demo, "cert.pem"))) return;
  mkdirSync(demo, { recursive: true, mode: 0o700 });
  const passphrase = readFileSync(paths.devPassphrase, "utf8").trim();
  const db = await openDatabase(config.db);
  try {
    const ca = new CertificateAuthority({
      paths,
      registry: new CertificateRepository(db),
      signer: () => loadIntermediateSigner(paths, passphrase),
      audit: cliAudit(db, io),
    });
    const keys = await generateKeyPair("ec-p256");
    const demoPass = randomBytes(18).toString("base64url");
    const issued = await ca.issueForKey({
      publicKey: keys.publicKey,
      commonName: "demo",
      family: "EC",
      keyType: "ec-p256",
      profile: "client",
      days: 90,
    });
    writeSecretFile(join(demo, "passphrase"), demoPass + "\n");
    writeSecretFile(join(demo, "key.pem"), await encryptCryptoKey(keys.privateKey, demoPass));
    writeFileAtomic(join(demo, "cert.pem"), issued.pem, { mode: 0o644 });
    writeFileAtomic(join(demo, "ca.pem"), readFileSync(paths.rootCert, "utf8"), { mode: 0o644 });
    io.out(`created the demo client profile ${demo} (identity "demo")\n`);
  } finally {
    await db.destroy();
  }
}

function shellPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel.startsWith("..") || rel === "" ? p : rel;
}

export async function devCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(argv, SERVER_OPTIONS, { positionals: 0, help: DEV_HELP });
  const config = resolveServer(flags, io.env);
  await ensureDevHome(config, io);
  const demo = join(config.home, "demo");
  writeFileAtomic(join(demo, "config.json"), JSON.stringify({ server: `https://localhost:${config.port}` }) + "\n", {
    mode: 0o644,
    overwrite: true,
  });
  const running = await launch(config, io);
  const d = shellPath(demo);
  const auth = `--cacert ${d}/ca.pem --cert ${d}/cert.pem --key ${d}/key.pem --pass "$(cat ${d}/passphrase)"`;
  const base = `https://localhost:${running.port}`;
  io.out(
    [
      `development mode: the CA passphrase is kept in ${shellPath(caPaths(config.home).devPassphrase)}; production never does this`,
      "try it (from this directory):",
      `  curl ${auth} ${base}/v1/me`,
      `  curl ${auth} --data-binary 'hello, vault' ${base}/v1/records`,
      // Sign-then-encrypt: decrypt with the demo key, then verify the signature against the root and print the content.
      `  curl ${auth} ${base}/v1/records/ID | openssl cms -decrypt -inform DER -binary -inkey ${d}/key.pem -passin file:${d}/passphrase -recip ${d}/cert.pem | openssl cms -verify -inform DER -binary -CAfile ${d}/ca.pem -purpose any`,
      "",
    ].join("\n"),
  );
  return runUntilSignal(running);
}
