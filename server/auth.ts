/**
 * The one place where a TLS peer certificate becomes an identity. The handshake has already checked the chain to
 * our root (and the CRL); this middleware checks what OpenSSL does not: EKU clientAuth, not a CA, within validity,
 * known to our registry with the same fingerprint, and not revoked. The certificate is parsed once per connection
 * and cached on the socket; the per-request work is a Set lookup and two number comparisons.
 */
import type { Context, Next } from "koa";
import type { TLSSocket } from "node:tls";
import type { KeyObject } from "node:crypto";
import { CertificateNotAllowedError, CertificateRevokedError, ClientCertificateRequiredError } from "../errors/index.js";
import { normalizeSerial } from "../ca/serial.js";
import { x509 } from "../keys/x509.js";
import type { RegistryWatcher } from "./registry-watch.js";

const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

export interface Caller {
  identity: string;
  serial: string;
  notBefore: number;
  notAfter: number;
  pem: string;
}

/** Outcome of vetting a connection's certificate: a caller, or the error every request on it gets. */
type Vetted = Caller | Error;
const perSocket = new WeakMap<TLSSocket, Promise<Vetted>>();

async function vetSocket(socket: TLSSocket, watcher: RegistryWatcher): Promise<Vetted> {
  const cert = socket.getPeerX509Certificate();
  if (!socket.authorized || !cert) return new ClientCertificateRequiredError();
  // Node's `cert.ca` is OpenSSL's X509_check_ca, which says "not a CA" for CA:TRUE without keyCertSign: read the
  // basicConstraints extension itself.
  const parsed = new x509.X509Certificate(new Uint8Array(cert.raw));
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  if (cert.ca || bc?.ca) return new CertificateNotAllowedError("a CA certificate cannot be used as a client certificate");
  // The handshake accepts whatever key OpenSSL's security level allows (RSA-1024 included): hold client keys to
  // what the CA issues for.
  const weak = weakKeyReason(cert.publicKey);
  if (weak) return new CertificateNotAllowedError(`the certificate's key is not acceptable: ${weak}`);
  const eku = cert.keyUsage as string[] | undefined;
  if (!eku || !eku.includes(OID_CLIENT_AUTH)) {
    return new CertificateNotAllowedError("the certificate is not for client authentication (EKU clientAuth missing)");
  }
  const serial = normalizeSerial(cert.serialNumber);
  const record = await watcher.certificate(serial);
  const fingerprint = cert.fingerprint256.replace(/:/g, "").toLowerCase();
  if (!record || record.fingerprintSha256 !== fingerprint || record.profile !== "client") {
    return new CertificateNotAllowedError("the certificate is not in this CA's registry");
  }
  return { identity: record.identity, serial, notBefore: record.notBefore.getTime(), notAfter: record.notAfter.getTime(), pem: record.pem };
}

const ACCEPTED_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);

function weakKeyReason(key: KeyObject): string | undefined {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "rsa") return (d?.modulusLength ?? 0) < 2048 ? `RSA-${d?.modulusLength ?? 0} (at least 2048 bits)` : undefined;
  if (key.asymmetricKeyType === "ec") return d?.namedCurve && ACCEPTED_CURVES.has(d.namedCurve) ? undefined : `curve ${d?.namedCurve ?? "unknown"}`;
  return `${key.asymmetricKeyType ?? "unknown"} keys are not issued by this CA`;
}

export function authenticate(watcher: RegistryWatcher, now: () => Date) {
  return async function auth(ctx: Context, next: Next): Promise<void> {
    const socket = ctx.req.socket as TLSSocket;
    let pending = perSocket.get(socket);
    if (!pending) {
      pending = vetSocket(socket, watcher);
      perSocket.set(socket, pending);
    }
    const vetted = await pending;
    if (vetted instanceof Error) throw vetted;
    if (watcher.isRevoked(vetted.serial)) throw new CertificateRevokedError();
    const t = now().getTime();
    if (t < vetted.notBefore) throw new CertificateNotAllowedError("the certificate is not yet valid");
    if (t > vetted.notAfter) throw new CertificateNotAllowedError("the certificate has expired");
    ctx.state.caller = vetted;
    await next();
  };
}
