/**
 * What CertvaultClient takes and answers (client.ts): its options, the server's views of the caller, records and
 * certificate requests, and how a read judges a record. Types only.
 */
import type { KeyObject } from "node:crypto";
import type { TrustState } from "./trust-state.js";

export interface Me {
  identity: string;
  serial: string;
  notAfter: string;
  certificates: string[];
  /** The recovery certificate every record is also sealed to, once the admins have set recovery up. */
  recovery?: string | null;
}

export interface RecordInfo {
  id: string;
  size: number;
  createdAt: string;
  updatedAt: string;
}

export interface RecordPage {
  records: RecordInfo[];
  next: string | null;
}

export interface CertificateRequestView {
  id: string;
  /**
   * "issuing": an auto-policy issuance still under way; "failed": one that never got its certificate (ask again).
   * Only "issued" comes with a certificate.
   */
  status: "pending" | "issuing" | "issued" | "rejected" | "failed";
  serial?: string;
  /** PEM, once issued; verified against the pinned root before it is returned. */
  certificate?: string;
}

/** How get()/openRecord() judge a record; defaults: server-sealed records accepted, unsigned ones refused. */
export interface ReadOptions {
  /** Whose record it must be: the caller's own identity unless reading a record someone shared with the caller. */
  owner?: string;
  /** Accept records the server sealed from a plaintext upload (signed by the server's certificate). */
  acceptServerSealed?: boolean;
  /** Accept records with no signature at all (stored before signed records existed). Never for untrusted servers. */
  acceptUnsigned?: boolean;
}

export interface ClientOptions {
  /** https://host:port of the certvault server. */
  server: string;
  /** PEM of the CA root to trust (ca.pem); may also hold the issuing intermediate. */
  caPem: string;
  /** The user's certificate (PEM). */
  certPem: string;
  /** The user's private key, decrypted in memory (see FileKeyStore). */
  key: KeyObject;
  timeoutMs?: number;
  retries?: number;
  /** Highest CRL number seen and the pinned recovery fingerprint (a profile keeps them in DIR/trust.json). */
  trustState?: TrustState;
  /** The clock for validity, CRL freshness and signing times (default: the real one). */
  clock?: () => Date;
  /** How long a verified CRL is used before it is fetched again (default 5 s). */
  crlMaxAgeMs?: number;
  /** Defaults for get()/openRecord(); see ReadOptions. */
  read?: Omit<ReadOptions, "owner">;
}
