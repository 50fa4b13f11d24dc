/**
 * The audit key signs checkpoints of the audit chain. It is its own key (not the CA's), P-256, and it lives where
 * the CA's keys live: with key files, stored like them (encrypted PKCS#8, 0600, under the CA passphrase) in
 * HOME/audit/audit.key; with the CA in a PKCS#11 token (HOME/ca/pkcs11.json), generated inside that token and never
 * out of it (ca/pkcs11.ts). Either way it signs through a DataSigner (ca/sign.ts), and its public half sits in
 * HOME/audit/audit.pub so that `certvault audit verify` needs neither passphrase nor PIN. The newest checkpoint is
 * also written to HOME/audit/anchor.json, and every one to HOME/audit/checkpoints.log (append-only, checkpoint-log.ts),
 * outside the database, so that deleting checkpoints and the entries they cover from the database is caught. When
 * the audit key is made, the genesis record (entry 0) is signed into that log: the key's first chain starts here.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decryptPrivateKey, encryptPkcs8 } from "../keys/encrypted-pkcs8.js";
import { writeFileAtomic, writeSecretFile } from "../files/secret-file.js";
import { caPaths } from "../ca/ca-files.js";
import { readPkcs11Record } from "../ca/pkcs11-record.js";
import type { Pkcs11Options } from "../ca/pkcs11-record.js";
import type { DataSigner } from "../ca/sign.js";
import { checkpointMessage } from "./chain.js";
import type { Checkpoint } from "./chain.js";
import { GENESIS_HASH } from "./chain.js";
import { appendCheckpoints } from "./checkpoint-file.js";

export interface AuditPaths {
  dir: string;
  key: string;
  pub: string;
  anchor: string;
  /** Every checkpoint this HOME's node signed, one JSON line each, append-only (checkpoint-log.ts). */
  log: string;
}

export function auditPaths(home: string): AuditPaths {
  const dir = join(home, "audit");
  return {
    dir,
    key: join(dir, "audit.key"),
    pub: join(dir, "audit.pub"),
    anchor: join(dir, "anchor.json"),
    log: join(dir, "checkpoints.log"),
  };
}

/** Makes the audit key pair unless it exists; returns the private key. */
export function ensureAuditKey(paths: AuditPaths, passphrase: string): KeyObject {
  if (existsSync(paths.key)) return decryptPrivateKey(readFileSync(paths.key, "utf8"), passphrase);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  writeSecretFile(paths.key, encryptPkcs8(new Uint8Array(der), passphrase));
  writeFileAtomic(paths.pub, publicKey.export({ format: "pem", type: "spki" }).toString(), {
    mode: 0o644,
    overwrite: true,
  });
  appendCheckpoints(paths.log, [signCheckpoint(privateKey, 0, GENESIS_HASH, new Date())]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

/** A DataSigner over a key file's private key (what ensureAuditKey returns). */
export function fileAuditSigner(key: KeyObject): DataSigner {
  const publicKey = createPublicKey(key);
  return { publicKey, sign: async (data) => sign("sha256", data, key) };
}

/**
 * The audit signer of this HOME. An existing HOME/audit/audit.key is kept and used (every HOME made before audit keys
 * could live in a token has one, and its checkpoints stay verifiable with its audit.pub). Otherwise, with the CA in a
 * PKCS#11 token, the audit key is in that token (made there on first use; audit.pub written then); else a key file
 * is made as ensureAuditKey does.
 */
export async function openAuditSigner(
  home: string,
  opts: { passphrase: string; pkcs11?: Pkcs11Options | undefined },
): Promise<DataSigner> {
  const paths = auditPaths(home);
  const rec = existsSync(paths.key) ? undefined : readPkcs11Record(caPaths(home));
  if (!rec) return fileAuditSigner(ensureAuditKey(paths, opts.passphrase));
  const expected = readAuditPublicKey(paths);
  const signer = await (await import("../ca/pkcs11-signers.js")).loadPkcs11AuditSigner(rec, opts.pkcs11, expected);
  if (!expected) {
    try {
      mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(paths.pub, signer.publicKey.export({ format: "pem", type: "spki" }).toString(), {
        mode: 0o644,
        overwrite: true,
      });
      // A key made just now has signed nothing yet: this HOME's node starts the chain (checkpoint-log.ts).
      if (signer.created === true)
        appendCheckpoints(paths.log, [await signCheckpointWith(signer, 0, GENESIS_HASH, new Date())]);
    } catch (err) {
      await signer.close?.();
      throw err;
    }
  }
  return signer;
}

export function readAuditPublicKey(paths: AuditPaths): KeyObject | undefined {
  return existsSync(paths.pub) ? createPublicKey(readFileSync(paths.pub, "utf8")) : undefined;
}

export function signCheckpoint(key: KeyObject, seq: number, hash: string, time: Date): Checkpoint {
  const signature = sign("sha256", Buffer.from(checkpointMessage(seq, hash, time)), key).toString("base64");
  return { seq, hash, time, signature };
}

/** signCheckpoint through a DataSigner (a key file's or a token's): the same message, the same DER signature. */
export async function signCheckpointWith(
  signer: DataSigner,
  seq: number,
  hash: string,
  time: Date,
): Promise<Checkpoint> {
  const signature = (await signer.sign(Buffer.from(checkpointMessage(seq, hash, time)))).toString("base64");
  return { seq, hash, time, signature };
}

export function checkpointVerifier(pub: KeyObject): (c: Checkpoint) => boolean {
  return (c) => {
    try {
      return verify(
        "sha256",
        Buffer.from(checkpointMessage(c.seq, c.hash, c.time)),
        pub,
        Buffer.from(c.signature, "base64"),
      );
    } catch {
      return false;
    }
  };
}

export function writeAnchor(paths: AuditPaths, c: Checkpoint): void {
  writeFileAtomic(
    paths.anchor,
    JSON.stringify({ seq: c.seq, hash: c.hash, time: c.time.toISOString(), signature: c.signature }) + "\n",
    { mode: 0o644, overwrite: true },
  );
}

export function readAnchor(paths: AuditPaths): Checkpoint | undefined {
  if (!existsSync(paths.anchor)) return undefined;
  const a = JSON.parse(readFileSync(paths.anchor, "utf8")) as {
    seq: number;
    hash: string;
    time: string;
    signature: string;
  };
  return { seq: a.seq, hash: a.hash, time: new Date(a.time), signature: a.signature };
}
