/**
 * CLI- and openssl-specific helpers for the CA tests, built on the test kit (`certvault/testing`, testing/): the kit
 * makes every test CA (createTestCA); this file only adds what the CLI tests need around one — the `--home` /
 * `--passphrase-file` (/ `--pkcs11-pin-file`) arguments and environment, a root+intermediate bundle for `openssl crl -CAfile`, a CertificateAuthority of the
 * CA on another database or clock, CSRs made by `openssl req`, a CSR with a broken signature, and a look into the
 * registry with the sqlite3 CLI.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "../../src/ca/authority.js";
import type { CaPaths } from "../../src/ca/ca-files.js";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import type { Signer } from "../../src/ca/sign.js";
import { TEST_PASSPHRASE } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { testKeyPair } from "../../src/testing/key-cache.js";
import { opensslOk } from "./openssl.js";
import { sqlite3, sqlite3Count } from "./db.js";

export { TEST_PASSPHRASE };

/** A test CA as the CLI sees it. */
export interface CaHome {
  home: string;
  paths: CaPaths;
  passFile: string;
  /** --home and --passphrase-file (and --pkcs11-pin-file for a CA in a token), for CLI calls that sign. */
  args: string[];
  /** The environment every CLI call on this CA needs: SOFTHSM2_CONF for a CA in a SoftHSM2 token, else nothing. */
  env: Record<string, string>;
  dbFile: string;
  /** root + intermediate, for `openssl crl -CAfile`. */
  bundle: string;
}

/** The CLI's view of a kit CA (writes HOME/bundle.pem); `token`: the PKCS#11 token holding its keys, if any. */
export function cliHome(ca: TestCA, token?: { pinFile: string; env: Record<string, string> }): CaHome {
  const bundle = join(ca.home, "bundle.pem");
  writeFileSync(bundle, ca.intermediatePem + ca.rootPem);
  const pin = token ? ["--pkcs11-pin-file", token.pinFile] : [];
  return {
    home: ca.home,
    paths: ca.paths,
    passFile: ca.passphraseFile,
    args: ["--home", ca.home, "--passphrase-file", ca.passphraseFile, ...pin],
    env: { ...token?.env },
    dbFile: ca.dbTarget,
    bundle,
  };
}

/**
 * A CertificateAuthority over a kit CA's files and signer, on a database of its own choosing (the CA's registry by
 * default, or e.g. ":memory:") and with its own clock. Destroy the returned db when done.
 */
export async function openAuthority(
  ca: TestCA,
  opts: { db?: string; now?: () => Date } = {},
): Promise<{ ca: CertificateAuthority; db: Db; signer: Signer }> {
  const db = await openDatabase(opts.db ?? ca.dbTarget);
  const signer = await ca.signer();
  const authority = new CertificateAuthority({
    paths: ca.paths,
    registry: new CertificateRepository(db),
    signer: async () => signer,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { ca: authority, db, signer };
}

/** An ECDSA P-256 public key (from the kit's key source, no openssl spawn), for issueForKey. */
export async function ecPublicKey(): Promise<CryptoKey> {
  return (await testKeyPair("ec-p256")).publicKey;
}

export type CsrKind = "ec-p256" | "ec-p384" | "rsa-3072" | "rsa-2048" | "rsa-1024" | "secp256k1" | "ec-explicit";

const NEWKEY: Record<CsrKind, string[]> = {
  "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  "rsa-3072": ["-newkey", "rsa:3072"],
  "rsa-2048": ["-newkey", "rsa:2048"],
  "rsa-1024": ["-newkey", "rsa:1024"],
  secp256k1: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
  "ec-explicit": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-pkeyopt", "ec_param_enc:explicit"],
};

/** `openssl req -new` with a fresh key of `kind` and subject CN=cn; returns the CSR and key paths. */
export async function makeCsr(
  dir: string,
  kind: CsrKind,
  cn: string,
  extra: string[] = [],
): Promise<{ csr: string; key: string }> {
  const base = join(dir, `${cn}-${kind}`);
  const csr = `${base}.csr`;
  const key = `${base}.key`;
  await opensslOk([
    "req",
    "-new",
    ...NEWKEY[kind],
    "-nodes",
    "-keyout",
    key,
    "-subj",
    `/CN=${cn}`,
    "-out",
    csr,
    ...extra,
  ]);
  return { csr, key };
}

/** DER of a PEM block. */
export function pemToDer(pem: string): Buffer {
  const body = pem.replace(/-----(BEGIN|END) [^-]+-----/g, "").replace(/\s+/g, "");
  return Buffer.from(body, "base64");
}

function derHeader(der: Uint8Array, at: number): { tag: number; contentStart: number; length: number } {
  const tag = der[at] as number;
  const first = der[at + 1] as number;
  if (first < 0x80) return { tag, contentStart: at + 2, length: first };
  const n = first & 0x7f;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (der[at + 2 + i] as number);
  return { tag, contentStart: at + 2 + n, length };
}

/**
 * A CSR (PEM) whose signature no longer verifies: one byte flipped inside the signature BIT STRING (the third element
 * of CertificationRequest), everything else intact and well-formed DER.
 */
export function breakCsrSignature(csrPem: string): string {
  const der = pemToDer(csrPem);
  const outer = derHeader(der, 0);
  if (outer.tag !== 0x30) throw new Error("not a DER SEQUENCE");
  let at = outer.contentStart;
  for (let i = 0; i < 2; i++) {
    const h = derHeader(der, at);
    at = h.contentStart + h.length;
  }
  const sig = derHeader(der, at);
  if (sig.tag !== 0x03) throw new Error("no signature BIT STRING where expected");
  const target = sig.contentStart + sig.length - 2; // a byte of the signature value, past the unused-bits octet
  der[target] = (der[target] as number) ^ 0x01;
  const b64 = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}-----END CERTIFICATE REQUEST-----\n`;
}

/** Rows in the registry, read with the sqlite3 CLI (independent of knex). */
export async function registryCount(dbFile: string): Promise<number> {
  return sqlite3Count(dbFile, "SELECT count(*) FROM certificates;");
}

/** One column of one certificate row, via sqlite3. */
export async function registryField(
  dbFile: string,
  serial: string,
  column: "status" | "revocation_reason",
): Promise<string> {
  if (!/^[0-9a-f]+$/.test(serial)) throw new Error("bad serial");
  return sqlite3(dbFile, `SELECT ${column} FROM certificates WHERE serial = '${serial}';`);
}

/** Serial of a PEM certificate file as openssl prints it (upper-case hex) and in certvault's spelling (lower-case). */
export async function certSerial(certFile: string): Promise<{ upper: string; lower: string }> {
  const out = (await opensslOk(["x509", "-in", certFile, "-noout", "-serial"])).trim();
  const upper = out.replace(/^serial=/, "");
  return { upper, lower: upper.toLowerCase() };
}

/** notBefore/notAfter of a PEM certificate file as openssl reads them. */
export async function certDates(certFile: string): Promise<{ notBefore: Date; notAfter: Date }> {
  const out = await opensslOk(["x509", "-in", certFile, "-noout", "-startdate", "-enddate"]);
  const nb = /notBefore=(.+)/.exec(out)?.[1];
  const na = /notAfter=(.+)/.exec(out)?.[1];
  if (!nb || !na) throw new Error(`no dates in ${out}`);
  return { notBefore: new Date(nb), notAfter: new Date(na) };
}
