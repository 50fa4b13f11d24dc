/**
 * The client-certificate rules, as pure functions of (certificate, now): what a certificate must be to log in, to be
 * sealed to, or to have its signature believed. The CA issues exactly this profile (ca/profiles.ts reads
 * SEALING_USAGE); the server applies it at login (server/middleware/auth.ts) and to registry rows (registry-certificate.ts),
 * the SDK before it seals or believes a signature (client-sdk/trust.ts). One rule, so that whatever logs in can also
 * be sealed to (P-521 could log in and not be sealed to while the rule was written five times).
 *
 * Each refusal carries a `code` (what is wrong) and a `reason` (a sentence, never key material); callers throw their
 * own stable error for it (csr_rejected, certificate_not_allowed, unsupported_key, untrusted_certificate, ...).
 */
import { x509 } from "../x509/x509.js";
import { type AcceptedKey, SEALING_FLAG, SEALING_USAGE, judgeSpki } from "./keys.js";

export type ProblemCode = "ca_certificate" | "not_client" | "key_type" | "key_usage" | "not_yet_valid" | "expired";
export interface CertificateProblem {
  readonly code: ProblemCode;
  readonly reason: string;
}

/** basicConstraints read directly: node's `cert.ca` (OpenSSL's X509_check_ca) says "not a CA" for CA:TRUE without keyCertSign. */
export function isCaCertificate(cert: x509.X509Certificate): boolean {
  return Boolean(cert.getExtension(x509.BasicConstraintsExtension)?.ca);
}

type KeyVerdict = AcceptedKey | (CertificateProblem & { ok: false });
/**
 * Per parsed certificate: judging the SPKI parses it (0.4-0.7 ms measured under load), and the SDK checks the same
 * parsed certificates (client-sdk/trust.ts caches them) on every put. A certificate's key never changes.
 */
const judged = new WeakMap<x509.X509Certificate, KeyVerdict>();

/** The certificate's key against the table (policy/keys.ts). */
export function certificateKey(cert: x509.X509Certificate): KeyVerdict {
  let v = judged.get(cert);
  if (!v) {
    const verdict = judgeSpki(cert.publicKey.rawData);
    v = verdict.ok ? verdict : { ok: false, code: "key_type", reason: verdict.reason };
    judged.set(cert, v);
  }
  return v;
}

/**
 * The client profile, independent of time: CA:FALSE, EKU clientAuth, a key of the table, and a KeyUsage extension
 * with digitalSignature (TLS client authentication, signing records) and the sealing usage of its key family.
 */
export function clientProfileProblem(cert: x509.X509Certificate): CertificateProblem | undefined {
  if (isCaCertificate(cert)) return { code: "ca_certificate", reason: "a CA certificate" };
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.includes(x509.ExtendedKeyUsage.clientAuth))
    return { code: "not_client", reason: "no EKU clientAuth" };
  const key = certificateKey(cert);
  if (!key.ok) return { code: key.code, reason: key.reason };
  const ku = cert.getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
  const sealing = SEALING_USAGE[key.family];
  if ((ku & SEALING_FLAG[key.family]) === 0) return { code: "key_usage", reason: `key usage without ${sealing}` };
  if ((ku & x509.KeyUsageFlags.digitalSignature) === 0)
    return { code: "key_usage", reason: "key usage without digitalSignature" };
  return undefined;
}

/** Within [notBefore, notAfter] at `now` (both ends included, as OpenSSL counts them); dates or epoch ms. */
export function validityProblem(
  validity: { readonly notBefore: Date | number; readonly notAfter: Date | number },
  now: Date | number,
): CertificateProblem | undefined {
  const t = +now;
  if (t < +validity.notBefore) return { code: "not_yet_valid", reason: "not yet valid" };
  if (t > +validity.notAfter) return { code: "expired", reason: "expired" };
  return undefined;
}

/** The whole client-certificate rule at `now` (chain, registry and revocation are the caller's). */
export function clientCertificateProblem(cert: x509.X509Certificate, now: Date): CertificateProblem | undefined {
  return clientProfileProblem(cert) ?? validityProblem(cert, now);
}
