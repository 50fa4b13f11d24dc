/**
 * The narrow ports the request path depends on, each implemented today by the revocation watcher
 * (revocation/revocation-watch.ts, which keeps revocation and CRLs) and by the quarantine (anomaly/quarantine.ts). Services and
 * middleware name what they use, not the class that caches it.
 */
import type { TLSSocket } from "node:tls";
import type { CertificateRecord } from "../store/certificates.js";

/** What authentication (auth.ts) needs of the registry. */
export interface ClientRegistry {
  /** One poll has loaded the revoked set, the quarantines and a CRL: until then nobody is admitted. */
  readonly ready: boolean;
  isRevoked(serial: string): boolean;
  /** The registry entry of a serial (found entries cached until the next registry change). */
  certificate(serial: string): Promise<CertificateRecord | null>;
  /** The stored status read now from the registry (not the cache); null when there is no such row. */
  storedStatus(serial: string): Promise<"active" | "revoked" | null>;
  /** The serial a connection presented: its revocation ends the connection (once idle). */
  identify(serial: string, socket: TLSSocket): void;
}

/** Active, vetted certificates of an identity: for sealing, the directory and GET /v1/me. */
export interface CertificateDirectory {
  /** As of the last registry change (cached). */
  activeCertificates(identity: string): Promise<CertificateRecord[]>;
  /** Read from the registry now: for a decision that a certificate issued since the last poll could change. */
  activeCertificatesNow(identity: string): Promise<CertificateRecord[]>;
}

/** The CRL the watcher issued last (DER). */
export interface CrlSource {
  readonly crlDer: Uint8Array;
}

/** Makes this node read the registry now (after an operator's change), resolving once it has. */
export interface RegistryRefresh {
  poll(): Promise<void>;
}
