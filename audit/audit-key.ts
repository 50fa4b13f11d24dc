/**
 * The audit key signs checkpoints of the audit chain. It is its own key (not the CA's), P-256, stored like the CA
 * keys (encrypted PKCS#8, 0600, under the CA passphrase) in HOME/audit/; its public half sits beside it so that
 * `certvault audit verify` needs no passphrase. The newest checkpoint is also written to HOME/audit/anchor.json,
 * outside the database, so that deleting checkpoints and the entries they cover from the database is caught.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decryptPrivateKey, encryptPkcs8 } from "../keys/encrypted-pkcs8.js";
import { writeFileAtomic, writeSecretFile } from "../keys/secret-file.js";
import { checkpointMessage } from "./chain.js";
import type { Checkpoint } from "./chain.js";

export interface AuditPaths {
  dir: string;
  key: string;
  pub: string;
  anchor: string;
}

export function auditPaths(home: string): AuditPaths {
  const dir = join(home, "audit");
  return { dir, key: join(dir, "audit.key"), pub: join(dir, "audit.pub"), anchor: join(dir, "anchor.json") };
}

/** Makes the audit key pair unless it exists; returns the private key. */
export function ensureAuditKey(paths: AuditPaths, passphrase: string): KeyObject {
  if (existsSync(paths.key)) return decryptPrivateKey(readFileSync(paths.key, "utf8"), passphrase);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  writeSecretFile(paths.key, encryptPkcs8(new Uint8Array(der), passphrase));
  writeFileAtomic(paths.pub, publicKey.export({ format: "pem", type: "spki" }).toString(), { mode: 0o644, overwrite: true });
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

export function readAuditPublicKey(paths: AuditPaths): KeyObject | undefined {
  return existsSync(paths.pub) ? createPublicKey(readFileSync(paths.pub, "utf8")) : undefined;
}

export function signCheckpoint(key: KeyObject, seq: number, hash: string, time: Date): Checkpoint {
  const signature = sign("sha256", Buffer.from(checkpointMessage(seq, hash, time)), key).toString("base64");
  return { seq, hash, time, signature };
}

export function checkpointVerifier(pub: KeyObject): (c: Checkpoint) => boolean {
  return (c) => {
    try {
      return verify("sha256", Buffer.from(checkpointMessage(c.seq, c.hash, c.time)), pub, Buffer.from(c.signature, "base64"));
    } catch {
      return false;
    }
  };
}

export function writeAnchor(paths: AuditPaths, c: Checkpoint): void {
  writeFileAtomic(paths.anchor, JSON.stringify({ seq: c.seq, hash: c.hash, time: c.time.toISOString(), signature: c.signature }) + "\n", { mode: 0o644, overwrite: true });
}

export function readAnchor(paths: AuditPaths): Checkpoint | undefined {
  if (!existsSync(paths.anchor)) return undefined;
  const a = JSON.parse(readFileSync(paths.anchor, "utf8")) as { seq: number; hash: string; time: string; signature: string };
  return { seq: a.seq, hash: a.hash, time: new Date(a.time), signature: a.signature };
}
