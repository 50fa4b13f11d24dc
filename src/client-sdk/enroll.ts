/**
 * Enrollment with a one-time token (`certvault enroll`): the key pair is made here, as `keygen` makes it, and the CSR
 * goes with the token to the enrollment listener only once that server has proved it belongs to the CA whose root
 * fingerprint the admin gave (docs/pki.md, "Enrollment").
 *
 * 1. Pin: a TLS handshake that sends nothing (no HTTP request is written), reading the chain the server presents;
 *    the certificate in it whose SHA-256 is the given fingerprint must be a self-signed CA certificate. No trust on
 *    first use: a server whose chain holds no such root gets nothing, and the fingerprint is never taken from it.
 * 2. Enroll: a second connection that trusts that root alone (no system store) with full verification (chain and
 *    host name): only a server certificate that chains to the pinned root gets the token and the CSR.
 * 3. Check the answer (the certificate is for our key and our identity, issued by an intermediate that the pinned root
 *    signed, clientAuth) and write the profile: key.pem (encrypted, 0600), cert.pem, ca.pem (the pinned root),
 *    config.json {"server": the records URL the server named, https only}.
 */
import { X509Certificate, createHash, createPublicKey } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import { request } from "node:https";
import { isIP } from "node:net";
import { connect } from "node:tls";
import type { PeerCertificate } from "node:tls";
import { x509 } from "../x509/x509.js";
import type { KeyType } from "../keys/key-types.js";
import { writeFileAtomic } from "../files/secret-file.js";
import { InvalidInputError, RootPinMismatchError } from "../errors/index.js";
import { parseToken } from "../ca/enrollment-token.js";
import { createKeyAndCsr } from "./keygen.js";
import { FileKeyStore } from "./keystore.js";
import { profilePaths } from "./profile.js";
import type { ProfilePaths } from "./profile.js";
import { BadAnswerError, ConnectionError } from "./errors.js";
import { expectOk } from "./transport.js";
import { FileTrustState } from "./trust-state.js";
import { RECOVERY_IDENTITY } from "../ca/profiles.js";

export const ENROLL_PATH = "/v1/enroll";

export interface EnrollOptions {
  /** The enrollment URL the server printed ("enrollment on https://HOST:PORT"). */
  server: string;
  token: string;
  /** SHA-256 of the root, lower-case hex (normalizeFingerprint). From the admin, never from the server. */
  fingerprint: string;
  dir: string;
  keyType: KeyType;
  passphrase: string;
  timeoutMs?: number;
}

export interface EnrollResult {
  identity: string;
  serial: string;
  /** The records (mutual-TLS) URL written to config.json. */
  server: string;
  paths: ProfilePaths;
  /** SHA-256 of the recovery certificate pinned in trust.json, when the server has recovery set up. */
  recoveryFingerprint?: string;
}

interface Answer {
  identity?: unknown;
  serial?: unknown;
  certificate?: unknown;
  chain?: unknown;
  root?: unknown;
  server?: unknown;
  recovery?: unknown;
}

function endpoint(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError(`not a URL: ${raw}`);
  }
  if (url.protocol !== "https:") throw new InvalidInputError("the enrollment URL must be https://");
  return url;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

function toPem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

/**
 * Step 1: the root the server presents whose SHA-256 is `fingerprint`, as PEM; nothing is written on the connection.
 * Throws RootPinMismatchError when the presented chain holds no such self-signed CA certificate.
 */
export function fetchPinnedRoot(url: URL, fingerprint: string, timeoutMs = 30_000): Promise<string> {
  const host = hostOf(url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("timed out")));
    socket.once("error", (e) =>
      reject(new ConnectionError(`the connection to ${url.origin} failed: ${e.message}`, { cause: e })),
    );
    socket.once("secureConnect", () => {
      const presented: Buffer[] = [];
      const seen = new Set<string>();
      let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
      while (c && c.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        presented.push(c.raw);
        c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
      }
      socket.destroy();
      for (const der of presented) {
        const cert = new X509Certificate(der);
        if (cert.fingerprint256.replace(/:/g, "").toLowerCase() !== fingerprint) continue;
        if (cert.ca && cert.checkIssued(cert) && cert.verify(cert.publicKey)) return resolve(toPem(der));
      }
      reject(
        new RootPinMismatchError(
          `the server at ${url.origin} does not present a root CA with the fingerprint you gave: nothing was sent to it. Check the fingerprint with your certvault admin (never take it from the server)`,
        ),
      );
    });
  });
}

/** Step 2: POST the token and CSR to a server that must chain to `rootPem` (and match the host name). */
function postPinned(
  url: URL,
  rootPem: string,
  body: string,
  timeoutMs: number,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const host = hostOf(url);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(ENROLL_PATH, url),
      {
        method: "POST",
        agent: false,
        ca: rootPem,
        rejectUnauthorized: true,
        ...(isIP(host) ? {} : { servername: host }),
        headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", (e) =>
          reject(new ConnectionError(`the connection to ${url.origin} failed: ${e.message}`, { cause: e })),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (e) =>
      reject(
        new ConnectionError(`the connection to ${url.origin} failed (no token was accepted): ${e.message}`, {
          cause: e,
        }),
      ),
    );
    req.end(body);
  });
}

/** Step 3: the answer must be a client certificate for our key and identity, under the pinned root. */
function checkAnswer(
  a: Answer,
  expected: { identity: string; csrPem: string; rootPem: string },
): { certPem: string; serial: string; server: string; recoveryFingerprint?: string } {
  if (
    typeof a.certificate !== "string" ||
    !Array.isArray(a.chain) ||
    typeof a.server !== "string" ||
    typeof a.serial !== "string"
  ) {
    throw new BadAnswerError("the enrollment server's answer is not what certvault expects");
  }
  const bad = (why: string): never => {
    throw new BadAnswerError(`the enrollment server's certificate is not usable: ${why}`);
  };
  const root = new X509Certificate(expected.rootPem);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(a.certificate);
  } catch {
    return bad("not a certificate");
  }
  const issuer = (a.chain as unknown[])
    .filter((p): p is string => typeof p === "string")
    .map((p) => new X509Certificate(p))
    .find((c) => c.ca && leaf.checkIssued(c) && leaf.verify(c.publicKey));
  if (!issuer || !issuer.checkIssued(root) || !issuer.verify(root.publicKey))
    bad("it does not chain to the pinned root");
  const spki = (k: { export(o: { type: "spki"; format: "der" }): Buffer }): string =>
    k.export({ type: "spki", format: "der" }).toString("hex");
  const csr = new x509.Pkcs10CertificateRequest(expected.csrPem);
  if (
    spki(leaf.publicKey) !==
    spki(createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" }))
  )
    bad("it is not for the key made here");
  const parsed = new x509.X509Certificate(a.certificate);
  const cns = parsed.subjectName.getField("CN");
  if (cns.length !== 1 || cns[0] !== expected.identity) bad("it names another identity");
  if (leaf.ca || !(leaf.keyUsage ?? []).includes("1.3.6.1.5.5.7.3.2")) bad("it is not a client certificate");
  let server: URL;
  try {
    server = new URL(a.server);
  } catch {
    return bad("the records URL is not a URL");
  }
  if (server.protocol !== "https:") bad("the records URL is not https://");
  const recoveryFingerprint =
    a.recovery === null || a.recovery === undefined
      ? undefined
      : checkRecovery(a.recovery, issuer as X509Certificate, bad);
  return {
    certPem: a.certificate.endsWith("\n") ? a.certificate : a.certificate + "\n",
    serial: a.serial,
    server: server.toString().replace(/\/$/, ""),
    ...(recoveryFingerprint ? { recoveryFingerprint } : {}),
  };
}

/**
 * The recovery certificate the enrollment server names, pinned in the new profile (issue 15: "when the profile is
 * made"): only one our pinned chain signed, with the reserved name, for client use, valid now. Revocation is checked
 * by the SDK at every seal against the CRL (no CRL is reachable before the profile exists); a revoked one then stops
 * every write until the user re-pins, never a silent swap.
 */
function checkRecovery(pem: unknown, issuer: X509Certificate, bad: (why: string) => never): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(String(pem));
  } catch {
    return bad("the recovery certificate does not parse");
  }
  const cns = new x509.X509Certificate(String(pem)).subjectName.getField("CN");
  const now = Date.now();
  if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey))
    bad("the recovery certificate does not chain to the pinned root");
  if (
    cns.length !== 1 ||
    cns[0] !== RECOVERY_IDENTITY ||
    cert.ca ||
    !(cert.keyUsage ?? []).includes("1.3.6.1.5.5.7.3.2")
  )
    bad("the recovery certificate is not one");
  if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now)
    bad("the recovery certificate is outside its validity");
  return createHash("sha256").update(cert.raw).digest("hex");
}

export async function enroll(opts: EnrollOptions): Promise<EnrollResult> {
  const url = endpoint(opts.server);
  const parsed = parseToken(opts.token);
  if (!parsed)
    throw new InvalidInputError("this is not a certvault enrollment token (cvt1....): copy it again from your admin");
  const paths = profilePaths(opts.dir);
  for (const p of [paths.key, paths.cert])
    if (existsSync(p)) throw new InvalidInputError(`${p} already exists; enroll into a new directory`);
  const timeoutMs = opts.timeoutMs ?? 30_000;

  const rootPem = await fetchPinnedRoot(url, opts.fingerprint, timeoutMs);
  const { csrPem } = await createKeyAndCsr({
    name: parsed.identity,
    keyType: opts.keyType,
    store: new FileKeyStore(paths.key),
    passphrase: opts.passphrase,
  });
  try {
    const res = expectOk(
      await postPinned(url, rootPem, JSON.stringify({ token: parsed.token, csr: csrPem }), timeoutMs),
      [201],
    );
    let answer: Answer;
    try {
      answer = JSON.parse(res.body.toString("utf8")) as Answer;
    } catch {
      throw new BadAnswerError("the enrollment server's answer is not JSON");
    }
    const checked = checkAnswer(answer, { identity: parsed.identity, csrPem, rootPem });
    writeFileAtomic(paths.cert, checked.certPem, { mode: 0o644 });
    writeFileAtomic(paths.ca, rootPem, { mode: 0o644, overwrite: true });
    writeFileAtomic(paths.config, JSON.stringify({ server: checked.server }, null, 2) + "\n", {
      mode: 0o644,
      overwrite: true,
    });
    if (checked.recoveryFingerprint)
      new FileTrustState(paths.trust).save({ recoveryFingerprint: checked.recoveryFingerprint });
    return {
      identity: parsed.identity,
      serial: checked.serial,
      server: checked.server,
      paths,
      ...(checked.recoveryFingerprint ? { recoveryFingerprint: checked.recoveryFingerprint } : {}),
    };
  } catch (err) {
    // A key made for a certificate that was never issued is of no use: remove it (this run created it).
    try {
      unlinkSync(paths.key);
    } catch {
      /* already gone */
    }
    throw err;
  }
}
