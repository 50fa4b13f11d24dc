/**
 * A profile directory: key.pem (encrypted), cert.pem, ca.pem (the root to trust) and config.json ({"server"}).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidInputError } from "../errors/index.js";
import { CertvaultClient } from "./client.js";
import type { ClientOptions } from "./client.js";
import { FileTrustState } from "./trust-state.js";
import { FileKeyStore } from "./keystore.js";
import type { PassphraseProvider } from "./keystore.js";

export interface ProfilePaths {
  dir: string;
  key: string;
  cert: string;
  ca: string;
  config: string;
  csr: string;
  /** What the SDK remembers against a lying server: the newest CRL number, the pinned recovery fingerprint. */
  trust: string;
}

export function profilePaths(dir: string): ProfilePaths {
  return {
    dir,
    key: join(dir, "key.pem"),
    cert: join(dir, "cert.pem"),
    ca: join(dir, "ca.pem"),
    config: join(dir, "config.json"),
    csr: join(dir, "request.csr"),
    trust: join(dir, "trust.json"),
  };
}

function readRequired(path: string, what: string): string {
  if (!existsSync(path)) throw new InvalidInputError(`${what} is missing: ${path}`);
  return readFileSync(path, "utf8");
}

export function configuredServer(dir: string): string | undefined {
  const p = profilePaths(dir).config;
  if (!existsSync(p)) return undefined;
  try {
    const server = (JSON.parse(readFileSync(p, "utf8")) as { server?: unknown }).server;
    return typeof server === "string" ? server : undefined;
  } catch {
    throw new InvalidInputError(`${p} is not valid JSON`);
  }
}

/** Opens a client from a profile; the key is decrypted before any connection is made. */
export async function clientFromProfile(
  dir: string,
  opts: { server?: string; passphrase: PassphraseProvider; timeoutMs?: number; read?: ClientOptions["read"] },
): Promise<CertvaultClient> {
  const paths = profilePaths(dir);
  const server = opts.server ?? configuredServer(dir);
  if (!server)
    throw new InvalidInputError(
      'no server: pass --server URL, set CERTVAULT_SERVER, or put {"server": URL} in config.json',
    );
  const certPem = readRequired(paths.cert, "the certificate (cert.pem)");
  const caPem = readRequired(paths.ca, "the CA root (ca.pem)");
  const key = await new FileKeyStore(paths.key).load(opts.passphrase);
  return new CertvaultClient({
    server,
    caPem,
    certPem,
    key,
    trustState: new FileTrustState(paths.trust),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.read ? { read: opts.read } : {}),
  });
}
