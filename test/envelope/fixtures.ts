/**
 * Throwaway keys and certificates made with the openssl CLI in a temp dir, plus helpers to run `openssl cms` as the
 * independent peer. Generate once per test file (before hook) and clean up (after hook).
 */
import { execFile } from "node:child_process";
import { type KeyObject, createPrivateKey } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Identity {
  readonly name: string;
  readonly certPem: string;
  readonly certDer: Uint8Array;
  readonly key: KeyObject;
  readonly keyPath: string;
  readonly certPath: string;
}

export function run(cmd: string, args: string[], opts: { input?: Uint8Array } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: "buffer", maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: stderr.toString() }));
      else resolve(stdout);
    });
    if (opts.input) child.stdin?.end(opts.input);
  });
}

const KEY_ARGS = {
  p256: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  p384: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  p521: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
  secp256k1: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
  p256explicit: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-pkeyopt", "ec_param_enc:explicit"],
  rsa3072: ["-newkey", "rsa:3072"],
  rsa2048: ["-newkey", "rsa:2048"],
  rsa1024: ["-newkey", "rsa:1024"],
  ed25519: ["-newkey", "ed25519"],
} as const;

export class Fixtures {
  private constructor(readonly dir: string) {}

  static async create(): Promise<Fixtures> {
    return new Fixtures(await mkdtemp(join(tmpdir(), "certvault-envelope-")));
  }

  /** A self-signed certificate; `keyUsage` undefined means no KeyUsage extension at all. */
  async identity(name: string, kind: keyof typeof KEY_ARGS, keyUsage?: string): Promise<Identity> {
    const keyPath = join(this.dir, `${name}.key`);
    const certPath = join(this.dir, `${name}.crt`);
    const ku = keyUsage === undefined ? [] : ["-addext", `keyUsage=${keyUsage}`];
    await run("openssl", [
      "req",
      "-x509",
      ...KEY_ARGS[kind],
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-subj",
      `/CN=${name}/O=certvault test`,
      "-days",
      "2",
      ...ku,
    ]);
    const certPem = await readFile(certPath, "utf8");
    const certDer = new Uint8Array(await run("openssl", ["x509", "-in", certPath, "-outform", "DER"]));
    return { name, certPem, certDer, key: createPrivateKey(await readFile(keyPath)), keyPath, certPath };
  }

  /** The standard set: EC P-256 (two), P-384 and RSA-3072 recipients with the right KeyUsage. */
  async standard(): Promise<{ p256: Identity; p256b: Identity; p384: Identity; p521: Identity; rsa: Identity }> {
    const [p256, p256b, p384, p521, rsa] = await Promise.all([
      this.identity("p256", "p256", "keyAgreement,digitalSignature"),
      this.identity("p256b", "p256", "keyAgreement"),
      this.identity("p384", "p384", "keyAgreement,digitalSignature"),
      this.identity("p521", "p521", "keyAgreement,digitalSignature"),
      this.identity("rsa", "rsa3072", "keyEncipherment,digitalSignature"),
    ]);
    return { p256, p256b, p384, p521, rsa };
  }

  async write(name: string, bytes: Uint8Array): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, bytes);
    return path;
  }

  /** `openssl cms -decrypt`, the way docs/envelope.md tells a user to do it. Rejects on a non-zero exit. */
  async opensslDecrypt(envelope: Uint8Array, who: Identity): Promise<Uint8Array> {
    const inPath = await this.write(`in-${process.hrtime.bigint()}.der`, envelope);
    const outPath = `${inPath}.out`;
    await run("openssl", [
      "cms",
      "-decrypt",
      "-inform",
      "DER",
      "-binary",
      "-in",
      inPath,
      "-out",
      outPath,
      "-inkey",
      who.keyPath,
      "-recip",
      who.certPath,
    ]);
    return new Uint8Array(await readFile(outPath));
  }

  /** `openssl cms -encrypt -aes-256-gcm` with the key options certvault requires (or `keyopts` instead). */
  async opensslEncrypt(plaintext: Uint8Array, recipients: Identity[], extra: string[] = []): Promise<Uint8Array> {
    const inPath = await this.write(`pt-${process.hrtime.bigint()}`, plaintext);
    const outPath = `${inPath}.der`;
    const recips = recipients.flatMap((r) => [
      "-recip",
      r.certPath,
      ...(r.key.asymmetricKeyType === "ec"
        ? ["-keyopt", "ecdh_kdf_md:sha256"]
        : ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256"]),
    ]);
    await run("openssl", [
      "cms",
      "-encrypt",
      "-aes-256-gcm",
      "-binary",
      "-outform",
      "DER",
      "-in",
      inPath,
      "-out",
      outPath,
      ...extra,
      ...recips,
    ]);
    return new Uint8Array(await readFile(outPath));
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Asserts `fn` throws an error of class `cls` (by instanceof) and returns it. */
export function thrown<T extends Error>(fn: () => unknown, cls: new (...args: never[]) => T): T {
  try {
    fn();
  } catch (err) {
    if (err instanceof cls) return err;
    throw new Error(`expected ${cls.name}, got ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err });
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
