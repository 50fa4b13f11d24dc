/**
 * Throwaway CAs for tests: a certvault CA in a temp dir, made by the CA's own code path — initCa (what `certvault ca
 * init` runs) and CertificateAuthority.issueForKey (what `ca issue` runs once a CSR is vetted) — with helpers to issue
 * client and server certificates, including deliberately broken ones for negative tests.
 *
 * The broken variants (and RSA keys under the CA's minimum) are built here from the CA's own leaf shape (profiles.ts)
 * bent as asked, signed with the CA's signer (ca/sign.ts) and registered with the CA's registry row, never through
 * CertificateAuthority.issueFromCsr/issueForKey, which keep their rules. Nothing outside testing/ (the CLI, the
 * server, certvault/ca) imports this file, so the variants are unreachable from production code.
 *
 * Two shortcuts make a CA + 10 certificates take a few tens of milliseconds instead of seconds, and neither weakens
 * what a test sees: the CA keys are encrypted at rest with 2,048 PBKDF2 rounds (OpenSSL's default; initCa's
 * keyFileIterations) instead of certvault's 600,000 — throwaway keys under a published passphrase — and RSA leaf keys come from a per-process pool
 * (key-cache.ts). CA keys are always fresh. With the `pkcs11` option the CA keys are made inside a PKCS#11 token
 * instead, by initCa itself (the code of `certvault ca init --pkcs11-*`), and the kit signs through the token.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { KeyObject, webcrypto } from "node:crypto";
import { CertificateAuthority, cnName, registryRow } from "../ca/authority.js";
import { initCa } from "../ca/ca-init.js";
import type { IssueRequest } from "../ca/authority.js";
import { RSA_POLICY } from "../policy/keys.js";
import { readCrlUrl } from "../ca/crl-url.js";
import { loadCaSigner } from "../ca/pkcs11-record.js";
import { caPaths, readCaCertificates } from "../ca/ca-files.js";
import type { CaPaths } from "../ca/ca-files.js";
import { DEFAULT_DAYS, leafShape, RECOVERY_IDENTITY } from "../ca/profiles.js";
import type { CertificateShape, KeyFamily, Profile } from "../ca/profiles.js";
import { randomSerial } from "../ca/serial.js";
import { signCertificate } from "../ca/sign.js";
import type { Signer } from "../ca/sign.js";
import { parseKeyType } from "../keys/key-types.js";
import type { KeyType } from "../keys/key-types.js";
import { crlPem, toPem } from "../x509/pem.js";
import { defaultDbPath } from "../config/index.js";
import { openDatabase } from "../store/db.js";
import { createScratchDatabase, testDatabaseServer } from "./scratch-db.js";
import type { Db } from "../store/db.js";
import { CertificateRepository } from "../store/certificates.js";
import { testKeyPair } from "./key-cache.js";
import type { LeafKeyType } from "./key-cache.js";

/** The passphrase of every test CA's keys (and of the server key a test server makes). Not a secret. */
export const TEST_PASSPHRASE = "certvault test passphrase";
/** PBKDF2 rounds for test CA keys at rest (see the header); OpenSSL and certvault read any count. */
export const TEST_KDF_ITERATIONS = 2048;

export interface TestCAOptions {
  /**
   * The CA's name: subjects "NAME Root CA" and "NAME Issuing CA". Default "certvault test". Two CAs with the same name
   * have identical subject names and different keys: a foreign CA that impersonates this one (see `foreign()`).
   */
  name?: string;
  /** Key type of the root and intermediate, as `certvault ca init --key-type`: ec-p256 (default), ec-p384, rsa-3072. */
  keyType?: KeyType;
  /** Where to make the temp dir (default: the OS temp dir). The CA's home is a fresh directory inside it. */
  dir?: string;
  /** Database for the registry: a SQLite file or a postgres:// URL. Default HOME/certvault.db (SQLite). */
  db?: string;
  /**
   * Make the root and intermediate keys inside this PKCS#11 token (an HSM; SoftHSM2 in tests) instead of key files,
   * with the code `certvault ca init --pkcs11-*` runs: HOME/ca then holds pkcs11.json and no key, and the kit signs
   * through the token. This process must reach the token (SoftHSM2: SOFTHSM2_CONF set before its module is first
   * loaded in the process); the CLI takes the PIN from `--pkcs11-pin-file`. Give each CA a token of its own.
   */
  pkcs11?: { module: string; token: string; pin: string };
}

export interface IssueOptions {
  /**
   * Key type of the certificate's key: ec-p256 (default), ec-p384, rsa-3072, rsa-2048, or rsa-1024 — a weak key the
   * CA itself refuses to certify (the kit signs it anyway, for negative tests).
   */
  keyType?: LeafKeyType;
  /** Validity in days from now (backdated a minute, as the CA does); default 90 (client) or 365 (server). */
  days?: number;
  // ---- Broken on purpose, for negative tests ----
  /** No Extended Key Usage extension at all (OpenSSL alone accepts such a certificate for TLS clients). */
  noEku?: boolean;
  /** The EKU to put in instead of the profile's; "serverAuth" on a client certificate is the wrong-EKU variant. */
  eku?: "serverAuth" | "clientAuth";
  /**
   * basicConstraints CA:TRUE (pathLen 0) on a leaf, key usage unchanged (no keyCertSign: the spelling that Node's
   * `cert.ca`, i.e. OpenSSL's X509_check_ca, does not call a CA).
   */
  caTrue?: boolean;
  /** An explicit notBefore (e.g. in the future: not yet valid). No clock tricks: the certificate really says so. */
  notBefore?: Date;
  /** An explicit notAfter (e.g. in the past: expired). */
  notAfter?: Date;
  /** Signed by this CA but left out of its registry. */
  unregistered?: boolean;
}

export interface TestIdentity {
  /** Subject CN (the identity, for a client certificate). */
  name: string;
  /** Lower-case hex, as the registry and `GET /v1/me` spell it. */
  serial: string;
  profile: Profile;
  keyType: LeafKeyType;
  certPem: string;
  /** Unencrypted PKCS#8 PEM: throwaway keys in a temp dir, handy for curl and openssl. */
  keyPem: string;
  /** The private key as a node KeyObject, as `new CertvaultClient({ key })` wants it. */
  key: KeyObject;
  /** The same key as a WebCrypto key. */
  privateKey: webcrypto.CryptoKey;
  /** A directory of this identity's own (inside the CA's home) holding cert.pem and key.pem. */
  dir: string;
  certPath: string;
  keyPath: string;
}

export interface TestCA {
  /** The name given to createTestCA (subjects "NAME Root CA", "NAME Issuing CA"). */
  name: string;
  keyType: KeyType;
  /** The CA's home: `--home` for the certvault CLI; removed by cleanup(). */
  home: string;
  paths: CaPaths;
  /**
   * The registry's database target and an open connection to it: HOME/certvault.db (SQLite), or a database of its
   * own on the PostgreSQL server named by CERTVAULT_TEST_DB.
   */
  dbTarget: string;
  /** `--home HOME --db TARGET`: what a CLI call needs to work on this CA and its registry. */
  cliArgs: string[];
  db: Db;
  /** The CA as the CLI runs it (issue from CSRs, revoke, CRL, list, show), over the same files and registry. */
  authority: CertificateAuthority;
  passphrase: string;
  /** A file holding the passphrase: `--passphrase-file` for the CLI, `-passin file:` for openssl. */
  passphraseFile: string;
  rootPem: string;
  intermediatePem: string;
  /** A client certificate for `name` (the client profile unless opts bend it). */
  issueClient(name: string, opts?: IssueOptions): Promise<TestIdentity>;
  /** A server certificate: CN = the first name, SANs = all names (DNS names and IP addresses). */
  issueServer(names: string | readonly string[], opts?: IssueOptions): Promise<TestIdentity>;
  /** Revokes a certificate of this CA (an identity or a serial); a running test server refuses it within its poll interval. */
  revoke(cert: TestIdentity | { serial: string } | string, reason?: string): Promise<void>;
  /** A fresh CRL (PEM, "X509 CRL") signed by the intermediate, listing every revoked certificate. */
  crl(opts?: { days?: number }): Promise<string>;
  /** @deprecated the old name of crl(). */
  crlPem(): Promise<string>;
  /** The intermediate's signer (for library-level tests that drive a CertificateAuthority of their own). */
  signer(): Promise<Signer>;
  /** Another CA with the same names and key type but keys of its own: what an impostor would set up. */
  foreign(): Promise<TestCA>;
  /** Stops test servers still running over this CA, closes the database and removes the home directory. */
  cleanup(): Promise<void>;
}

/** Things to stop before a CA's files go away (test servers register here). */
const beforeCleanup = new WeakMap<TestCA, Set<() => Promise<void>>>();

/** Internal to the kit: `fn` runs at the CA's cleanup() unless `unregister` ran first. */
export function onCleanup(ca: TestCA, fn: () => Promise<void>): () => void {
  const set = beforeCleanup.get(ca);
  if (!set) throw new Error("certvault/testing: not a CA made by createTestCA");
  set.add(fn);
  return () => set.delete(fn);
}

function familyOf(keyType: string): KeyFamily {
  return keyType.startsWith("rsa") ? "RSA" : "EC";
}

/** Whether `o` asks for something the CA itself would not issue (or register); the kit then signs it itself. */
function isBent(o: IssueOptions, keyType: LeafKeyType): boolean {
  const broken = o.noEku || o.eku || o.caTrue || o.notBefore || o.notAfter || o.unregistered;
  // RSA under the CA's minimum (csr.ts) is the weak-key variant; every other leaf key type the CA certifies.
  return Boolean(broken) || (keyType.startsWith("rsa-") && Number(keyType.slice(4)) < RSA_POLICY.minBits);
}

function safeDirName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 40) || "_";
}

/**
 * A CA in a fresh temp dir: HOME/ca/{root,intermediate}.{crt,key}, HOME/ca/root.crl and the registry in
 * HOME/certvault.db, exactly where `certvault ca init` and `certvault server` look for them.
 */
export async function createTestCA(opts: TestCAOptions = {}): Promise<TestCA> {
  const name = opts.name ?? "certvault test";
  const keyType = parseKeyType(opts.keyType); // ec-p256 by default; a UsageError on anything else, before any write
  const home = resolve(mkdtempSync(join(opts.dir ?? tmpdir(), "certvault-test-")));
  try {
    return await build(home, name, keyType, opts);
  } catch (err) {
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
}

async function build(home: string, name: string, keyType: KeyType, opts: TestCAOptions): Promise<TestCA> {
  const passphrase = TEST_PASSPHRASE;
  const paths = caPaths(home);
  const passphraseFile = join(home, "passphrase.txt");
  writeFileSync(passphraseFile, passphrase + "\n", { mode: 0o600 });

  const signer: Signer = opts.pkcs11
    ? await tokenKeys(paths, name, keyType, opts.pkcs11)
    : await fileKeys(paths, name, keyType, passphrase);
  try {
    return await assemble(home, name, keyType, opts, paths, passphraseFile, signer);
  } catch (err) {
    await signer.close?.();
    throw err;
  }
}

/** The keys in a token, made by initCa itself (as `ca init --pkcs11-*`); the intermediate's signer from pkcs11.json. */
async function tokenKeys(
  paths: CaPaths,
  name: string,
  keyType: KeyType,
  p11: { module: string; token: string; pin: string },
): Promise<Signer> {
  await initCa(paths, { name, keyType, passphrase: TEST_PASSPHRASE, pkcs11: p11 });
  return loadCaSigner(paths, {
    passphrase: () => Promise.reject(new Error("a token CA needs no passphrase to sign")),
    pkcs11: { module: p11.module, token: p11.token, pinEnv: p11.pin },
  });
}

/** Key files made by initCa itself (as `ca init`), with the cheap KDF; the intermediate's signer read back from them. */
async function fileKeys(paths: CaPaths, name: string, keyType: KeyType, passphrase: string): Promise<Signer> {
  await initCa(paths, { name, keyType, passphrase, keyFileIterations: TEST_KDF_ITERATIONS });
  return loadCaSigner(paths, { passphrase: () => Promise.resolve(passphrase) });
}

async function assemble(
  home: string,
  name: string,
  keyType: KeyType,
  opts: TestCAOptions,
  paths: CaPaths,
  passphraseFile: string,
  signer: Signer,
): Promise<TestCA> {
  const passphrase = TEST_PASSPHRASE;
  const certs = readCaCertificates(paths);

  const pgServer = opts.db === undefined ? testDatabaseServer() : undefined;
  const scratch = pgServer ? await createScratchDatabase(pgServer) : undefined;
  const dbTarget = opts.db ?? scratch?.url ?? defaultDbPath(home);
  const db = await openDatabase(dbTarget);
  const registry = new CertificateRepository(db);
  const authority = new CertificateAuthority({ paths, registry, signer: async () => signer });

  /**
   * A certificate the CA would not issue: the CA's own leaf shape (profiles.ts) bent as `o` says, signed by the CA's
   * signer (sign.ts), registered with the CA's registry row (unless `unregistered`). Never through the authority,
   * which keeps its rules.
   */
  async function issueBent(req: IssueRequest, o: IssueOptions): Promise<{ serial: string; certPem: string }> {
    const issuedAt = new Date();
    const shape: CertificateShape = leafShape({
      ...req,
      sans: req.sans ?? [],
      now: issuedAt,
      issuerNotAfter: signer.certificate.notAfter,
      crlUrl: readCrlUrl(paths),
    });
    if (o.notBefore) shape.notBefore = o.notBefore;
    if (o.notAfter) shape.notAfter = o.notAfter;
    if (o.eku) shape.extendedKeyUsage = [o.eku];
    if (o.noEku) shape.extendedKeyUsage = [];
    if (o.caTrue) shape.ca = { pathLength: 0 };
    const serial = randomSerial();
    const cert = await signCertificate({
      serial,
      subject: cnName(req.commonName),
      shape,
      publicKey: req.publicKey,
      issuer: signer,
    });
    if (!o.unregistered) await registry.insert(registryRow(serial, cert, req, issuedAt));
    return { serial, certPem: cert.toString("pem") + "\n" };
  }

  async function issue(
    profile: Profile,
    commonName: string,
    sans: readonly string[],
    o: IssueOptions,
  ): Promise<TestIdentity> {
    const leafKeyType = o.keyType ?? "ec-p256";
    const keys = await testKeyPair(leafKeyType);
    const req = {
      publicKey: keys.publicKey,
      commonName,
      family: familyOf(leafKeyType),
      keyType: leafKeyType,
      profile,
      days: o.days ?? DEFAULT_DAYS[profile],
      sans: [...sans],
      // The kit may issue under the reserved recovery name (a test's own recovery certificate, or an impostor's).
      recovery: commonName === RECOVERY_IDENTITY,
    };
    // The CA's own issue (authority.ts) unless the certificate is to be broken on purpose.
    const { serial, certPem } = isBent(o, leafKeyType)
      ? await issueBent(req, o)
      : await authority.issueForKey(req).then((r) => ({ serial: r.record.serial, certPem: r.pem }));
    const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
    const keyPem = toPem(pkcs8, "PRIVATE KEY");
    const dir = mkdtempSync(join(home, `${profile}-${safeDirName(commonName)}-`));
    const certPath = join(dir, "cert.pem");
    const keyPath = join(dir, "key.pem");
    writeFileSync(certPath, certPem);
    writeFileSync(keyPath, keyPem, { mode: 0o600 });
    return {
      name: commonName,
      serial,
      profile,
      keyType: leafKeyType,
      certPem,
      keyPem,
      key: KeyObject.from(keys.privateKey),
      privateKey: keys.privateKey,
      dir,
      certPath,
      keyPath,
    };
  }

  let cleaned: Promise<void> | undefined;
  const ca: TestCA = {
    name,
    keyType,
    home,
    paths,
    dbTarget,
    cliArgs: ["--home", home, "--db", dbTarget],
    db,
    authority,
    passphrase,
    passphraseFile,
    rootPem: certs.rootPem,
    intermediatePem: certs.intermediatePem,
    issueClient: (commonName, o = {}) => issue("client", commonName, [], o),
    issueServer(names, o = {}) {
      const list = typeof names === "string" ? [names] : [...names];
      const first = list[0];
      if (first === undefined) throw new Error("issueServer needs at least one name");
      return issue("server", first, list, o);
    },
    async revoke(cert, reason) {
      await authority.revoke(typeof cert === "string" ? cert : cert.serial, reason);
    },
    async crl(o = {}) {
      return crlPem((await authority.crl(o)).rawData);
    },
    crlPem: () => ca.crl(),
    signer: async () => signer,
    foreign: () => createTestCA({ name, keyType, ...(opts.dir ? { dir: opts.dir } : {}) }),
    cleanup() {
      cleaned ??= (async () => {
        const stoppers = [...(beforeCleanup.get(ca) ?? [])];
        await Promise.allSettled(stoppers.map((stop) => stop()));
        await db.destroy();
        await signer.close?.();
        await scratch?.drop();
        rmSync(home, { recursive: true, force: true });
      })();
      return cleaned;
    },
  };
  beforeCleanup.set(ca, new Set());
  return ca;
}
