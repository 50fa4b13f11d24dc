/**
 * The server's view of the CA registry, kept current by polling one counter (the registry revision, bumped by every
 * issue and revoke, from any process). On a change it reloads the revoked set (serials only: the per-request check
 * is a Set lookup), forgets cached certificate look-ups, issues a fresh CRL into the TLS context, and closes open
 * connections that authenticated with a now-revoked certificate (revoked-connections.ts: once idle). `ready` stays false until one poll has loaded the
 * revoked set, what `onChange` loads (the quarantines, quarantine.ts) and a CRL: until then the server admits nobody
 * (auth.ts), rather than everybody with an empty revoked set. It implements the ports of ports.ts.
 */
import type { TLSSocket } from "node:tls";
import { RevokedConnections } from "./revoked-connections.js";
import type { CertificateRecord, CertificateRepository } from "../../store/certificates.js";
import type { CertificateAuthority } from "../../ca/authority.js";
import { crlPem } from "../../x509/pem.js";
import type { RegistryVetting } from "./registry-vetting.js";
import type { CertificateDirectory, ClientRegistry, CrlSource, RegistryRefresh } from "../ports.js";

export interface WatchOptions {
  pollMs: number;
  /** How long an issued CRL is valid; it is re-issued well before that. */
  crlDays: number;
  now: () => Date;
  onCrl: (pem: string) => void;
  /** Runs on each registry change, before the change counts as seen (the quarantines reload); a rejection fails the poll. */
  onChange?: () => Promise<void>;
  onError: (err: unknown) => void;
  /** Checks each row's certificate against our CA: nothing else reaches sealing, listing or recipient checks. */
  vetting: Pick<RegistryVetting, "usable">;
}

export class RevocationWatcher implements ClientRegistry, CertificateDirectory, CrlSource, RegistryRefresh {
  private revision = -1;
  private revoked = new Set<string>();
  private bySerial = new Map<string, CertificateRecord>();
  private byIdentity = new Map<string, CertificateRecord[]>();
  private readonly connections = new RevokedConnections();
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private pollAgain = false;
  private stopped = false;
  private crlIssuedAt = 0;
  private crlRevision = -1;
  private loaded = false;
  crlDer: Uint8Array = new Uint8Array(0);
  crlPemText = "";

  constructor(
    private readonly registry: CertificateRepository,
    private readonly ca: CertificateAuthority,
    private readonly opts: WatchOptions,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs);
    this.timer.unref();
  }

  /**
   * Stops polling and waits for a poll in flight, so that the database can be closed under nobody's feet. A poll
   * asked for afterwards (a late notification) does nothing.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inflight;
  }

  /** One poll has loaded the revoked set, what onChange loads, and a CRL (and put it in the TLS context). */
  get ready(): boolean {
    return this.loaded;
  }

  /** The certificate's stored status read now from the registry (not the cache); null when there is no such row. */
  storedStatus(serial: string): Promise<"active" | "revoked" | null> {
    return this.registry.storedStatus(serial);
  }

  isRevoked(serial: string): boolean {
    return this.revoked.has(serial);
  }

  /**
   * The registry entry of a serial; found entries are cached until the next registry change. Misses are not cached:
   * a certificate issued a moment ago must be found as soon as it is committed, and misses are rare (one per refused
   * connection, since vetting is per connection).
   */
  async certificate(serial: string): Promise<CertificateRecord | null> {
    const cached = this.bySerial.get(serial);
    if (cached) return cached;
    const found = await this.registry.get(serial);
    if (found) this.bySerial.set(serial, found);
    return found;
  }

  /**
   * The identity's certificates that are active now (not revoked, within validity) and pass vetting against our CA
   * (registry-vetting.ts), as of the last registry change.
   */
  async activeCertificates(identity: string): Promise<CertificateRecord[]> {
    let certs = this.byIdentity.get(identity);
    if (!certs) {
      certs = await this.registry.activeForIdentity(identity, this.opts.now());
      this.byIdentity.set(identity, certs);
    }
    return this.usable(certs);
  }

  /**
   * The same, read from the registry now: for a decision that a certificate issued a moment ago (before the next
   * poll) could change. A row equal to one the cache holds is handed on as that object, so that vetting finds it
   * in its per-row cache (registry-vetting.ts: 1-3 us) instead of decoding and hashing its PEM again (11-17 us).
   */
  async activeCertificatesNow(identity: string): Promise<CertificateRecord[]> {
    const cached = new Map((this.byIdentity.get(identity) ?? []).map((c) => [c.serial, c]));
    const rows = (await this.registry.activeForIdentity(identity, this.opts.now())).map((row) => {
      const known = cached.get(row.serial);
      return known && sameRow(known, row) ? known : row;
    });
    return this.usable(rows);
  }

  private usable(certs: CertificateRecord[]): Promise<CertificateRecord[]> {
    const now = this.opts.now().getTime();
    return this.opts.vetting.usable(
      certs.filter((c) => c.notAfter.getTime() >= now && !this.revoked.has(c.serial)),
      this.opts.now(),
    );
  }

  /** A connection past the handshake gate (lifecycle/listen.ts); its certificate is not read here (peer-certificate.ts). */
  admit(socket: TLSSocket): void {
    this.connections.admit(socket);
  }

  /** The serial a connection authenticated with, from its first request (auth.ts): a revocation of it closes the connection. */
  identify(serial: string, socket: TLSSocket): void {
    this.connections.identify(serial, socket, this.revoked.has(serial));
  }

  /**
   * One poll that starts after this call, awaited (a poll already in flight may have read the revision before the
   * caller's change, so it is waited for first). For in-process tests (TestServer.syncRegistry): never an endpoint.
   */
  async sync(): Promise<void> {
    if (this.stopped) throw new Error("the revocation watcher is stopped");
    await this.inflight;
    await this.poll();
  }

  /** One poll at a time; a call during a poll (a notification) runs one more right after, so no change is missed. */
  poll(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inflight) {
      this.pollAgain = true;
      return this.inflight;
    }
    this.inflight = this.pollOnce().finally(() => {
      this.inflight = undefined;
      if (this.pollAgain && this.timer) {
        this.pollAgain = false;
        void this.poll();
      }
    });
    return this.inflight;
  }

  private async pollOnce(): Promise<void> {
    try {
      const revision = await this.registry.revision();
      const crlStale = this.opts.now().getTime() - this.crlIssuedAt > (this.opts.crlDays * 86_400_000) / 2;
      if (revision !== this.revision) {
        this.revoked = new Set(await this.registry.revokedSerials());
        await this.opts.onChange?.();
        this.bySerial = new Map();
        this.byIdentity = new Map();
        this.revision = revision;
        this.connections.close(this.revoked);
      }
      if (crlStale || this.crlRevision !== this.revision) {
        await this.reissueCrl();
        // Again once the TLS context has the new CRL: a full handshake admitted under the old one in between (and not
        // read at its handshake, lifecycle/listen.ts) is read and ended now.
        this.connections.close(this.revoked);
      }
      this.loaded = true;
    } catch (err) {
      this.opts.onError(err);
    }
  }

  private async reissueCrl(): Promise<void> {
    const crl = await this.ca.crl({ days: this.opts.crlDays });
    this.crlDer = new Uint8Array(crl.rawData);
    this.crlPemText = crlPem(crl.rawData);
    this.crlIssuedAt = this.opts.now().getTime();
    this.crlRevision = this.revision;
    this.opts.onCrl(this.crlPemText);
  }
}

/** Equal in every field: equal rows may share one object (and its vetting). */
function sameRow(a: CertificateRecord, b: CertificateRecord): boolean {
  const time = (d: Date | null): number | null => (d === null ? null : d.getTime());
  return (
    a.pem === b.pem &&
    a.identity === b.identity &&
    a.subject === b.subject &&
    a.profile === b.profile &&
    a.keyType === b.keyType &&
    a.fingerprintSha256 === b.fingerprintSha256 &&
    a.storedStatus === b.storedStatus &&
    a.revocationReason === b.revocationReason &&
    time(a.notBefore) === time(b.notBefore) &&
    time(a.notAfter) === time(b.notAfter) &&
    time(a.revokedAt) === time(b.revokedAt) &&
    time(a.createdAt) === time(b.createdAt)
  );
}
