/**
 * Where this CA publishes its CRL (the CRL Distribution Points URI of every certificate issued from then on), kept in
 * HOME/ca/crl.json: `{"crlUrl": "http://..."}`. Set by `certvault ca init --crl-url URL` or, on an existing CA,
 * `certvault ca set-crl-url URL` (`--clear` removes it); `certvault server --crl-port PORT` serves the CRL at its path.
 *
 * Plain http only: a relying party fetching a CRL over https would first have to check the revocation of the https
 * server's certificate (RFC 5280 4.2.1.13 names http and ldap; CRLs are signed, so transport security adds nothing).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors/index.js";
import { writeFileAtomic } from "../files/secret-file.js";
import type { CaPaths } from "./ca-files.js";

/** A URL longer than this in every certificate is a mistake, not an address. */
const MAX_URL_LENGTH = 512;

export function crlUrlFile(paths: CaPaths): string {
  return join(paths.dir, "crl.json");
}

/** The URL as it will be written into certificates (normalised by WHATWG URL), or a UsageError saying why not. */
export function parseCrlUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--crl-url "${raw.slice(0, 80)}" is not a URL`);
  }
  if (url.protocol !== "http:")
    throw new UsageError(
      "--crl-url must be an http:// URL (CRLs are signed; https would need its own revocation check)",
    );
  if (url.username || url.password || url.search || url.hash)
    throw new UsageError("--crl-url must not carry credentials, a query or a fragment");
  if (url.pathname === "/") throw new UsageError("--crl-url needs a path, e.g. http://crl.example.com/certvault.crl");
  if (url.href.length > MAX_URL_LENGTH || /[^\x21-\x7e]/.test(url.href))
    throw new UsageError(`--crl-url must be printable ASCII of at most ${MAX_URL_LENGTH} characters`);
  return url.href;
}

/** The configured URL, or undefined; a damaged crl.json fails loudly rather than issuing without the extension. */
export function readCrlUrl(paths: CaPaths): string | undefined {
  const file = crlUrlFile(paths);
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new UsageError(`${file} is not valid JSON: fix it or run "certvault ca set-crl-url URL"`);
  }
  const url = (parsed as { crlUrl?: unknown } | null)?.crlUrl;
  if (typeof url !== "string")
    throw new UsageError(`${file} has no "crlUrl" string: fix it or run "certvault ca set-crl-url URL"`);
  return parseCrlUrl(url);
}

export function writeCrlUrl(paths: CaPaths, url: string | undefined): void {
  if (url === undefined) rmSync(crlUrlFile(paths), { force: true });
  else
    writeFileAtomic(crlUrlFile(paths), JSON.stringify({ crlUrl: parseCrlUrl(url) }, null, 2) + "\n", {
      mode: 0o644,
      overwrite: true,
    });
}
