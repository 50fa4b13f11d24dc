/**
 * OpenSSL as the independent peer: run `openssl` with arguments, get {code, stdout, stderr}. The child runs in its own
 * session (no controlling terminal), so a passphrase prompt fails instead of waiting on /dev/tty.
 */
import { runProcess } from "./cli.js";

export interface OpensslResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function openssl(
  args: readonly string[],
  opts: { input?: Uint8Array | string; cwd?: string } = {},
): Promise<OpensslResult> {
  const r = await runProcess("openssl", args, { input: opts.input, cwd: opts.cwd, detached: true, timeoutMs: 60_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Runs openssl and throws (with its stderr) unless it exits 0; returns stdout. */
export async function opensslOk(
  args: readonly string[],
  opts: { input?: Uint8Array | string; cwd?: string } = {},
): Promise<string> {
  const r = await openssl(args, opts);
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** `openssl x509 -text -noout` of a PEM certificate file. */
export function x509Text(certFile: string): Promise<string> {
  return opensslOk(["x509", "-in", certFile, "-noout", "-text"]);
}

/** The text block that follows an extension's title line in `openssl x509 -text`, e.g. "X509v3 Key Usage". */
export function extensionBlock(text: string, title: string): { critical: boolean; value: string } | undefined {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.trim().startsWith(`${title}:`));
  if (i < 0) return undefined;
  const head = lines[i] as string;
  const value: string[] = [];
  const indent = head.search(/\S/);
  for (let j = i + 1; j < lines.length; j++) {
    const l = lines[j] as string;
    if (l.trim() === "" || l.search(/\S/) <= indent) break;
    value.push(l.trim());
  }
  return { critical: /critical/.test(head), value: value.join("\n") };
}

/**
 * Reads a signed record with OpenSSL alone, exactly as the README prints it: decrypt with the user's key, then verify
 * the signature against the root (the intermediate travels in the SignedData) and print the content.
 */
export const OPENSSL_READ_RECORD =
  'set -o pipefail; openssl cms -decrypt -binary -inform DER -in "$1" -inkey "$2" -recip "$3" | openssl cms -verify -binary -inform DER -CAfile "$4" -purpose any';

export async function opensslReadRecord(p: {
  envelopeFile: string;
  keyPath: string;
  certPath: string;
  rootPath: string;
}): Promise<OpensslResult> {
  const r = await runProcess(
    "bash",
    ["-c", OPENSSL_READ_RECORD, "openssl-read", p.envelopeFile, p.keyPath, p.certPath, p.rootPath],
    { detached: true, timeoutMs: 60_000 },
  );
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** The CA's current CRL as DER (what GET /v1/crl answers), for fake servers in tests. */
export function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
}
