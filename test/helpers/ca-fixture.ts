/**
 * Throwaway CAs and inputs for CA tests: a CA made in-process (initCa, faster than the CLI), the CLI arguments that
 * reach it, CSRs made by `openssl req`, a CSR with a broken signature, and a look into the registry with sqlite3.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { initCa, CertificateAuthority } from "../../ca/authority.js";
import { caPaths, loadIntermediateSigner } from "../../ca/ca-files.js";
import type { CaPaths } from "../../ca/ca-files.js";
import type { KeyType } from "../../keys/key-types.js";
import { defaultDbPath } from "../../config/index.js";
import { openDatabase } from "../../store/db.js";
import type { Db } from "../../store/db.js";
import { CertificateRepository } from "../../store/certificates.js";
import type { Signer } from "../../ca/sign.js";
import { opensslOk } from "./openssl.js";
import { runProcess } from "./cli.js";

export const TEST_PASSPHRASE = "correct horse battery staple";

export interface CaHome {
  home: string;
  paths: CaPaths;
  passFile: string;
  /** --home and --passphrase-file, for CLI calls. */
  args: string[];
  dbFile: string;
  /** root + intermediate, for `openssl crl -CAfile`. */
  bundle: string;
}

/** A fresh CA in `home` made through the library; the registry schema is created too. */
export async function makeCaHome(home: string, keyType: KeyType = "ec-p256"): Promise<CaHome> {
  const paths = caPaths(home);
  await initCa(paths, { name: "Test", keyType, passphrase: TEST_PASSPHRASE });
  const passFile = join(home, "pass.txt");
  writeFileSync(passFile, TEST_PASSPHRASE + "\n", { mode: 0o600 });
  const dbFile = defaultDbPath(home);
  await (await openDatabase(dbFile)).destroy();
  const bundle = join(home, "bundle.pem");
  writeFileSync(bundle, readFileSync(paths.intermediateCert, "utf8") + readFileSync(paths.rootCert, "utf8"));
  return { home, paths, passFile, args: ["--home", home, "--passphrase-file", passFile], dbFile, bundle };
}

/** The CertificateAuthority of a CA home, on a database of its own choosing (a file or ":memory:"). */
export async function openAuthority(h: CaHome, opts: { db?: string; now?: () => Date; signer?: Signer } = {}): Promise<{ ca: CertificateAuthority; db: Db; signer: Signer }> {
  const db = await openDatabase(opts.db ?? h.dbFile);
  const signer = opts.signer ?? (await loadIntermediateSigner(h.paths, TEST_PASSPHRASE));
  const ca = new CertificateAuthority({ paths: h.paths, registry: new CertificateRepository(db), signer: async () => signer, ...(opts.now ? { now: opts.now } : {}) });
  return { ca, db, signer };
}

/** An ECDSA P-256 public key made with WebCrypto (no openssl spawn), for issueForKey. */
export async function ecPublicKey(): Promise<CryptoKey> {
  const pair = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return pair.publicKey;
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
export async function makeCsr(dir: string, kind: CsrKind, cn: string, extra: string[] = []): Promise<{ csr: string; key: string }> {
  const base = join(dir, `${cn}-${kind}`);
  const csr = `${base}.csr`;
  const key = `${base}.key`;
  await opensslOk(["req", "-new", ...NEWKEY[kind], "-nodes", "-keyout", key, "-subj", `/CN=${cn}`, "-out", csr, ...extra]);
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
  const r = await runProcess("sqlite3", [dbFile, "SELECT count(*) FROM certificates;"]);
  if (r.code !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** One column of one certificate row, via sqlite3. */
export async function registryField(dbFile: string, serial: string, column: "status" | "revocation_reason"): Promise<string> {
  if (!/^[0-9a-f]+$/.test(serial)) throw new Error("bad serial");
  const r = await runProcess("sqlite3", [dbFile, `SELECT ${column} FROM certificates WHERE serial = '${serial}';`]);
  if (r.code !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim();
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
