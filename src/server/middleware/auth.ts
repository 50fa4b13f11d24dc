/**
 * The one place where a TLS peer certificate becomes an identity. The handshake has already checked the chain to
 * our root (and the CRL); this middleware checks what OpenSSL does not: EKU clientAuth, not a CA, within validity,
 * known to our registry with the same fingerprint, and not revoked. The certificate is parsed once per connection
 * and cached on the socket; the per-request work is a Set lookup and two number comparisons.
 */
import type { Next } from "koa";
import type { TLSSocket } from "node:tls";
import {
  CertificateNotAllowedError,
  CertificateRevokedError,
  ClientCertificateRequiredError,
  IdentityNotAllowedError,
  NotReadyError,
} from "../../errors/index.js";
import { identityNameProblem } from "../../ca/identity-name.js";
import { normalizeSerial } from "../../ca/serial.js";
import { x509 } from "../../x509/x509.js";
import { type ProblemCode, clientProfileProblem, validityProblem } from "../../policy/client-certificate.js";
import type { ClientRegistry } from "../ports.js";
import { type PeerCertificate, peerCertificate } from "../tls/peer-certificate.js";
import type { AppContext, AppMiddleware, AppState } from "../state.js";

/** certificate_not_allowed messages per policy problem (the time-bound ones are checked per request, below). */
const LOGIN_REFUSALS: Record<ProblemCode, (reason: string) => string> = {
  ca_certificate: () => "a CA certificate cannot be used as a client certificate",
  not_client: () => "the certificate is not for client authentication (EKU clientAuth missing)",
  key_type: (reason) => `the certificate's key is not acceptable: ${reason}`,
  key_usage: (reason) => `the certificate's ${reason}`,
  not_yet_valid: () => "the certificate is not yet valid",
  expired: () => "the certificate has expired",
};

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
/** The same outcomes once settled: read without a turn of the microtask queue. */
const settled = new WeakMap<TLSSocket, Vetted>();

/**
 * Vetting outcomes per certificate (SHA-256 of its DER), so that a client reconnecting with the same certificate is
 * not parsed again (parsing costs about as much as the TLS handshake itself). Only what cannot change is kept: a
 * certificate's own content and the registry's record of it. Revocation and validity are checked on every request;
 * "not in the registry" is never kept (the certificate may be issued since the last poll).
 */
class VettedCache {
  private readonly m = new Map<string, Vetted>();
  constructor(private readonly cap = 10_000) {}
  get(fingerprint: string): Vetted | undefined {
    return this.m.get(fingerprint);
  }
  set(fingerprint: string, v: Vetted): void {
    if (this.m.size >= this.cap) this.m.delete(this.m.keys().next().value as string);
    this.m.set(fingerprint, v);
  }
}

async function vetSocket(socket: TLSSocket, watcher: ClientRegistry, cache: VettedCache): Promise<Vetted> {
  // The connection's first request: its certificate, read once per socket (~150-200 us after a full handshake,
  // ~15-20 us after a resumed one, which the handshake hook has read already: server/tls/peer-certificate.ts).
  const cert = peerCertificate(socket);
  if (!socket.authorized || !cert) return new ClientCertificateRequiredError();
  watcher.identify(normalizeSerial(cert.serialNumber), socket);
  const fingerprint = cert.fingerprint256.replace(/:/g, "").toLowerCase();
  const known = cache.get(fingerprint);
  if (known) return known;
  const { vetted, final } = await vetCertificate(cert, fingerprint, watcher);
  if (final) cache.set(fingerprint, vetted);
  return vetted;
}

/** Why the registry row's identity and the certificate's CNs cannot make a caller, if they cannot. */
function identityRefusal(identity: string, cns: string[]): Error | undefined {
  // A name outside the safe set (a certificate issued before the rule, or a registry row a database writer changed)
  // never becomes a caller: it would reach logs, the audit trail and other users' terminals.
  const unsafe = [identity, ...cns].map(identityNameProblem).find((p) => p !== undefined);
  if (unsafe)
    return new IdentityNotAllowedError(
      `the certificate's identity is not an acceptable name (${unsafe}); ask the administrator for a certificate with a new name`,
    );
  // The identity is the certificate's own CN: a registry row whose identity column says otherwise (a database writer's
  // UPDATE) never makes one identity's certificate log in as another.
  if (cns.length !== 1 || cns[0] !== identity)
    return new CertificateNotAllowedError("the certificate's subject does not match its registry record");
  return undefined;
}

/** `final`: the outcome cannot change for this certificate (everything but "not in the registry yet"). */
async function vetCertificate(
  cert: PeerCertificate,
  fingerprint: string,
  watcher: ClientRegistry,
): Promise<{ vetted: Vetted; final: boolean }> {
  const refused = (message: string): { vetted: Vetted; final: boolean } => ({
    vetted: new CertificateNotAllowedError(message),
    final: true,
  });
  // The client profile of the key table and client-certificate rules (policy/): the handshake accepts whatever key
  // OpenSSL's security level allows (RSA-1024 included) and ignores KeyUsage beyond TLS; hold client certificates to
  // exactly what the CA issues and the envelope seals to, so that whoever logs in can also store records.
  const parsed = new x509.X509Certificate(new Uint8Array(cert.raw));
  const problem = clientProfileProblem(parsed);
  if (problem) return refused(LOGIN_REFUSALS[problem.code](problem.reason));
  const serial = normalizeSerial(cert.serialNumber);
  const record = await watcher.certificate(serial);
  if (!record)
    return { vetted: new CertificateNotAllowedError("the certificate is not in this CA's registry"), final: false };
  if (record.fingerprintSha256 !== fingerprint || record.profile !== "client")
    return refused("the certificate is not in this CA's registry");
  // The stored status, whatever the in-memory revoked set says (a poll that failed, a row changed without a revision).
  if (record.storedStatus !== "active") return { vetted: new CertificateRevokedError(), final: true };
  const nameRefused = identityRefusal(record.identity, parsed.subjectName.getField("CN"));
  if (nameRefused) return { vetted: nameRefused, final: true };
  const caller: Caller = {
    identity: record.identity,
    serial,
    notBefore: record.notBefore.getTime(),
    notAfter: record.notAfter.getTime(),
    pem: record.pem,
  };
  return { vetted: caller, final: true };
}

/**
 * The revocation check again, after a request body has been read: an upload authorised before a revocation writes
 * nothing after it. The in-memory set first, then the stored row itself (fresh, not the cache): a revocation that
 * this node has not polled yet counts too. A registry that cannot be read refuses (the error propagates).
 */
export async function recheckCaller(ctx: { state: AppState }): Promise<void> {
  await ctx.state.recheck?.();
}

async function stillAllowed(caller: Caller, watcher: ClientRegistry, now: () => Date): Promise<void> {
  if (watcher.isRevoked(caller.serial)) throw new CertificateRevokedError();
  const status = await watcher.storedStatus(caller.serial);
  if (status === null) throw new CertificateNotAllowedError("the certificate is not in this CA's registry");
  if (status !== "active") throw new CertificateRevokedError();
  if (now().getTime() > caller.notAfter) throw new CertificateNotAllowedError("the certificate has expired");
}

export function authenticate(watcher: ClientRegistry, now: () => Date): AppMiddleware {
  const cache = new VettedCache();
  const admit = (ctx: AppContext, vetted: Vetted): void => {
    if (vetted instanceof Error) throw vetted;
    if (watcher.isRevoked(vetted.serial)) throw new CertificateRevokedError();
    const late = validityProblem(vetted, now());
    if (late) throw new CertificateNotAllowedError(LOGIN_REFUSALS[late.code](late.reason));
    ctx.state.caller = vetted;
    ctx.state.recheck = () => stillAllowed(vetted, watcher, now);
  };
  // Not async: a connection's later requests find its outcome settled and go on without awaiting (hsts.ts says why).
  return function auth(ctx: AppContext, next: Next): Promise<void> {
    // Until the registry, the revoked set and the CRL are loaded once, nobody is admitted (an empty set admits all).
    if (!watcher.ready) {
      ctx.set("Retry-After", "1");
      throw new NotReadyError();
    }
    const socket = ctx.req.socket as TLSSocket;
    const known = settled.get(socket);
    if (known) {
      admit(ctx, known);
      return next();
    }
    let pending = perSocket.get(socket);
    if (!pending) {
      pending = vetSocket(socket, watcher, cache).then((v) => (settled.set(socket, v), v));
      perSocket.set(socket, pending);
    }
    return pending.then((vetted) => {
      admit(ctx, vetted);
      return next();
    });
  };
}
