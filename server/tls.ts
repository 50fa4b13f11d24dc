/**
 * TLS settings: a client certificate is required and must chain to our root (the only trust anchor; no system
 * store), TLS 1.2+ with forward-secret AEAD suites only, session tickets for cheap resumption, and the current CRL.
 */
import type { SecureContextOptions, TlsOptions } from "node:tls";
import { randomBytes } from "node:crypto";

const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
].join(":");
const TLS13_SUITES = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

export interface TlsMaterial {
  key: string | Buffer;
  passphrase?: string;
  cert: string;
  /** Our root CA only. */
  ca: string;
  /** The intermediate's current CRL and the root's CRL over the intermediate; empty when TLS-level CRLs are off. */
  crl: string[];
}

export function secureContextOptions(m: TlsMaterial): SecureContextOptions {
  return {
    key: m.key,
    ...(m.passphrase === undefined ? {} : { passphrase: m.passphrase }),
    cert: m.cert,
    ca: m.ca,
    ...(m.crl.length > 0 ? { crl: m.crl } : {}),
    minVersion: "TLSv1.2",
    ciphers: `${TLS13_SUITES}:${TLS12_CIPHERS}`,
    honorCipherOrder: true,
    ecdhCurve: "X25519:P-256:P-384",
    sessionIdContext: "certvault",
  };
}

export function tlsOptions(m: TlsMaterial): TlsOptions {
  return {
    ...secureContextOptions(m),
    requestCert: true,
    rejectUnauthorized: true,
    // Per-process ticket keys: resumption across restarts is not worth a long-lived secret on disk.
    ticketKeys: randomBytes(48),
    sessionTimeout: 300,
  };
}
