/**
 * TLS settings: a client certificate is required and must chain to our root (the only trust anchor; no system
 * store), TLS 1.2 and 1.3 with forward-secret AEAD suites only (ECDHE + AES-GCM/ChaCha20-Poly1305; no CBC, no RSA
 * key exchange) in our order, no renegotiation, no compression, session tickets for cheap resumption (keys rotated:
 * ticket-keys.ts), and the current CRL. docs/deploy.md compares this with Mozilla's profiles; the suite checks each
 * refusal with openssl s_client (test/server/tls-config.test.ts).
 */
import type { SecureContextOptions, TlsOptions } from "node:tls";
import { constants, randomBytes } from "node:crypto";

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
    maxVersion: "TLSv1.3",
    ciphers: `${TLS13_SUITES}:${TLS12_CIPHERS}`,
    honorCipherOrder: true,
    // Node alone allows a client 3 renegotiations per 10 minutes (tls.CLIENT_RENEG_LIMIT): each costs the server a
    // full handshake (~1.6 ms CPU). OpenSSL refuses them all with this option (openssl s_client's "R" gets an alert).
    // No compression (CRIME): OpenSSL 3 leaves it off already; said here so that no build can turn it on.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION,
    ecdhCurve: "X25519:P-256:P-384",
    sessionIdContext: "certvault",
  };
}

export function tlsOptions(m: TlsMaterial): TlsOptions {
  return {
    ...secureContextOptions(m),
    requestCert: true,
    // The refusal of a client that is not authorized is done by handshake-gate.ts, before any request is read, so
    // that it can be audited: Node would destroy the socket silently (traps.md). Never serve without that gate.
    rejectUnauthorized: false,
    // Per-process ticket keys: resumption across restarts is not worth a long-lived secret on disk.
    ticketKeys: randomBytes(48),
    sessionTimeout: 300,
  };
}
