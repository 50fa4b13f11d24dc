/**
 * Verifying, on the client, every certificate the SDK relies on: one it seals to, one that signed a record or a grant.
 * Each must chain to the pinned root through an issuing CA, be within validity (at the time that matters), be a
 * leaf (CA:FALSE) with the extended and plain key usage of its purpose, belong to the expected identity, and not be
 * revoked on the verified CRL (crl.ts). @peculiar/x509's chain builder checks signatures only, so everything else is
 * checked here.
 */
import { createHash } from "node:crypto";
import { x509 } from "../x509/x509.js";
import { UntrustedCertificateError } from "./errors.js";
import {
  type ProblemCode,
  clientProfileProblem,
  isCaCertificate,
  validityProblem,
} from "../policy/client-certificate.js";

export interface TrustAnchors {
  root: x509.X509Certificate;
  /** Issuing CAs learnt from ca.pem or from the server's verified TLS chain. */
  intermediates: x509.X509Certificate[];
}

/** What a certificate is relied on for: sealing to it, or believing its signature (a user's, or the server's). */
export type Purpose = "seal" | "sign-client" | "sign-server";

/** Revocation as a verified CRL tells it (crl.ts); undefined means "not revoked". */
export type RevocationLookup = (cert: x509.X509Certificate) => { date: Date; reason?: number } | undefined;

export function parsePemBundle(pem: string): x509.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    return blocks.map((b) => new x509.X509Certificate(b));
  } catch {
    // A damaged ca.pem must be a typed refusal, never @peculiar/x509's own error (found by fuzzing).
    throw new UntrustedCertificateError("a certificate in the CA bundle does not parse");
  }
}

/** ca.pem: the root (self-signed) first or anywhere, optionally with the intermediate beside it. */
export function anchorsFromPem(pem: string): TrustAnchors {
  const certs = parsePemBundle(pem);
  const root = certs.find((c) => c.subject === c.issuer);
  if (!root) throw new UntrustedCertificateError("ca.pem holds no root (self-signed) certificate");
  return { root, intermediates: certs.filter((c) => c !== root) };
}

/** Within its validity at `at` (policy/client-certificate.ts, the rule the server and the CA apply). */
const within = (c: x509.X509Certificate, at: Date): boolean => validityProblem(c, at) === undefined;

export async function issuedBy(
  child: x509.X509Certificate | x509.X509Crl,
  parent: x509.X509Certificate,
): Promise<boolean> {
  if (child.issuer !== parent.subject) return false;
  try {
    return child instanceof x509.X509Crl
      ? await child.verify({ publicKey: parent.publicKey })
      : await child.verify({ publicKey: parent.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

const CACHE_CAP = 1000;
const parsed = new Map<string, x509.X509Certificate>();
const issuers = new WeakMap<TrustAnchors, Map<string, x509.X509Certificate>>();

function remember<V>(m: Map<string, V>, k: string, v: V): V {
  if (m.size >= CACHE_CAP) m.delete(m.keys().next().value as string);
  m.set(k, v);
  return v;
}

export const fingerprintOf = (der: ArrayBuffer | Uint8Array): string =>
  createHash("sha256")
    .update(der instanceof Uint8Array ? der : new Uint8Array(der))
    .digest("hex");

/**
 * A certificate from DER, parsed once per SHA-256: @peculiar/x509 takes 1-5 ms per parse (bench/signing.ts), far more
 * than the signature check it precedes. Parsing has no trust in it, so sharing the result is safe.
 */
export function parseCertificate(der: Uint8Array): x509.X509Certificate {
  const fp = fingerprintOf(der);
  return parsed.get(fp) ?? remember(parsed, fp, new x509.X509Certificate(new Uint8Array(der)));
}

/**
 * issuerOf(), remembered per leaf (by SHA-256) and anchor set: which issuing CA signed a certificate, and that the CA
 * chains to the pinned root, never change; only the CA's validity at `at` is checked again each time. Saves the two
 * WebCrypto signature checks (~1-4 ms each, bench/signing.ts: open+verifyRecord was 8 ms/record without it).
 */
export async function cachedIssuerOf(
  leaf: x509.X509Certificate,
  anchors: TrustAnchors,
  at: Date,
  extra: () => readonly x509.X509Certificate[] = () => [],
): Promise<x509.X509Certificate | undefined> {
  let m = issuers.get(anchors);
  if (!m) issuers.set(anchors, (m = new Map()));
  const fp = fingerprintOf(leaf.rawData);
  const hit = m.get(fp);
  if (hit) return within(hit, at) ? hit : undefined;
  const found = await issuerOf(leaf, anchors, at, extra());
  return found ? remember(m, fp, found) : undefined;
}

/** The issuing CA (signed by the pinned root, a CA, valid at `at`) that signed `leaf`, if any. */
export async function issuerOf(
  leaf: x509.X509Certificate | x509.X509Crl,
  anchors: TrustAnchors,
  at: Date,
  extra: readonly x509.X509Certificate[] = [],
): Promise<x509.X509Certificate | undefined> {
  for (const candidate of [...anchors.intermediates, ...extra]) {
    if (
      isCaCertificate(candidate) &&
      within(candidate, at) &&
      (await issuedBy(leaf, candidate)) &&
      (await issuedBy(candidate, anchors.root))
    )
      return candidate;
  }
  return undefined;
}

/** Words for a refusal of the client profile (policy/client-certificate.ts), per what the certificate is relied on for. */
function clientProblem(code: ProblemCode, reason: string, purpose: Purpose): string {
  if (code === "ca_certificate") return "is a CA certificate";
  if (code === "not_client") return "is not a client certificate";
  if (code === "key_type") return `has a key certvault does not use (${reason})`;
  return purpose === "seal" ? `may not be used to seal records (${reason})` : `may not be used to sign (${reason})`;
}

/**
 * A user's certificate (to seal to, or whose signature to believe) must be of the client profile, the same rule the
 * CA issues and the server admits (policy/). A server certificate: a leaf with EKU serverAuth and digitalSignature.
 */
function usageProblem(leaf: x509.X509Certificate, purpose: Purpose): string | undefined {
  if (purpose !== "sign-server") {
    const problem = clientProfileProblem(leaf);
    return problem ? clientProblem(problem.code, problem.reason, purpose) : undefined;
  }
  if (isCaCertificate(leaf)) return "is a CA certificate";
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.includes(x509.ExtendedKeyUsage.serverAuth)) return "is not a server certificate";
  const ku = leaf.getExtension(x509.KeyUsagesExtension);
  if (!ku || (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) return "may not be used to sign";
  return undefined;
}

/**
 * Checks `leaf` for `purpose` as of `at`: chain to the pinned root, validity, usages, the CN (`identity`, unless
 * undefined: a server certificate names a host), and revocation before `at` on the CRL.
 */
export async function verifyLeaf(
  leaf: x509.X509Certificate,
  anchors: TrustAnchors,
  opts: {
    purpose: Purpose;
    identity?: string;
    at: Date;
    revoked?: RevocationLookup;
    extraIntermediates?: () => readonly x509.X509Certificate[];
  },
): Promise<x509.X509Certificate> {
  const name = `certificate ${leaf.serialNumber}`;
  if (!(await cachedIssuerOf(leaf, anchors, opts.at, opts.extraIntermediates)))
    throw new UntrustedCertificateError(`${name} does not chain to the pinned CA`);
  if (!within(leaf, opts.at)) throw new UntrustedCertificateError(`${name} is outside its validity period`);
  const problem = usageProblem(leaf, opts.purpose);
  if (problem) throw new UntrustedCertificateError(`${name} ${problem}`);
  const cn = leaf.subjectName.getField("CN");
  if (opts.identity !== undefined && (cn.length !== 1 || cn[0] !== opts.identity))
    throw new UntrustedCertificateError(`${name} belongs to another identity`);
  const revocation = opts.revoked?.(leaf);
  if (revocation && revocation.date.getTime() <= opts.at.getTime())
    throw new UntrustedCertificateError(`${name} is revoked`);
  return leaf;
}

/** A certificate to seal to, now: chained, a client certificate that may be sealed to, of `expectedIdentity`, not revoked. */
export async function verifyRecipient(
  pem: string,
  anchors: TrustAnchors,
  expectedIdentity: string,
  now = new Date(),
  revoked?: RevocationLookup,
): Promise<x509.X509Certificate> {
  let leaf: x509.X509Certificate;
  try {
    leaf = new x509.X509Certificate(pem);
  } catch {
    throw new UntrustedCertificateError("the server listed a certificate that does not parse");
  }
  return verifyLeaf(leaf, anchors, {
    purpose: "seal",
    identity: expectedIdentity,
    at: now,
    ...(revoked ? { revoked } : {}),
  });
}
