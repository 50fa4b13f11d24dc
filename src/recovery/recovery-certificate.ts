/**
 * The recovery certificate as the server uses it: sealed to with every plaintext upload, required on client-sealed
 * ones, named in GET /v1/me. HOME/ca/recovery.crt is only a file: whoever can write it (or the database) must not be
 * able to make the server seal everyone's records to a key of their choosing. So the file's certificate is used only
 * once it passes checkOurCertificate (our chain, registry row with equal serial and fingerprint, active) and carries
 * the reserved name; anything else is logged, audited, and left out: records are then sealed without a recovery
 * recipient (fail closed: they stay readable by their owners, and nobody else).
 *
 * Cost per use (`vettedNow()`: GET /v1/me, record uploads, enrollment; not the other requests): one stat of the file
 * (~1.8 us measured on a quiet machine, 10-12 us under the 2-core soak, bench/pipeline.ts) and two comparisons.
 * The vetting (a registry read, a signature check) runs again only when the file changes (inode, size, times) or
 * the registry does (the watcher's generation), and its users wait for it then, so that a record stored right after
 * `recovery init` is already sealed to the new certificate. Revocation and expiry are checked on every use (a Set
 * lookup, a number compare).
 */
import { readFileSync, statSync } from "node:fs";
import { RECOVERY_IDENTITY } from "../ca/profiles.js";
import type { Logger } from "pino";
import type { CertificateRecord } from "../store/certificates.js";
import type { AuditEvent } from "../audit/chain.js";
import { CertificateRefusedError, checkOurCertificate } from "./certificate-check.js";
import { recoveryPaths } from "./recovery-files.js";

export interface RecoveryCertificateOptions {
  /** HOME/ca/recovery.crt */
  path: string;
  ca: { rootPem: string; intermediatePem: string };
  /** The registry's row for a serial, read fresh (the certificate may have been issued a moment ago). */
  lookup(serial: string): Promise<CertificateRecord | null>;
  /** The revocation watcher's revoked set: revocation takes effect within its poll interval, like client certificates'. */
  isRevoked(serial: string): boolean;
  /** Any value that changes when the registry changes (identity compared). */
  generation(): unknown;
  now(): Date;
  /** A certificate on disk that is not used, and why. */
  onRefused(reason: string): void;
  /** The vetting could not run (e.g. the database is down): nothing is used until it can. */
  onError(err: unknown): void;
}

interface Vetted {
  fileKey: string;
  generation: unknown;
  /** Absent when there is no usable recovery certificate. */
  usable?: { pem: string; serial: string; notAfter: number };
}

export class RecoveryCertificate {
  private vetted: Vetted | undefined;
  private inflight: Promise<void> | undefined;

  constructor(private readonly opts: RecoveryCertificateOptions) {}

  /** The vetted certificate, unless revoked or expired since; undefined before recovery init and when refused. */
  current(): string | undefined {
    const u = this.vetted?.usable;
    if (!u || this.opts.isRevoked(u.serial) || this.opts.now().getTime() > u.notAfter) return undefined;
    return u.pem;
  }

  /** undefined when the vetting is current (the fast path), else a promise that settles once it has been redone. */
  ready(): Promise<void> | undefined {
    const v = this.vetted;
    if (v && v.fileKey === this.fileKey() && v.generation === this.opts.generation()) return undefined;
    return this.refresh();
  }

  /**
   * The certificate to use now: vetted again first when the file or the registry changed since the last vetting
   * (twice at most: a change during a run that was already in flight needs one more). Never rejects.
   */
  async vettedNow(): Promise<string | undefined> {
    const pending = this.ready();
    if (pending) {
      await pending;
      await this.ready();
    }
    return this.current();
  }

  /** Vets the file again; concurrent callers share one run. Never rejects. */
  refresh(): Promise<void> {
    this.inflight ??= this.vet().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private fileKey(): string {
    try {
      const s = statSync(this.opts.path, { throwIfNoEntry: false });
      return s ? `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}` : "absent";
    } catch (err) {
      // e.g. EACCES: never thrown into the request path; the read below fails too, and is refused.
      return `unreadable:${(err as NodeJS.ErrnoException).code ?? "?"}`;
    }
  }

  private read(): string {
    try {
      return readFileSync(this.opts.path, "utf8");
    } catch (err) {
      throw new CertificateRefusedError(`it cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }

  private async vet(): Promise<void> {
    // Taken before reading: a change while vetting makes the next ready() vet again rather than be missed.
    const fileKey = this.fileKey();
    const generation = this.opts.generation();
    try {
      const pem = fileKey === "absent" ? undefined : this.read();
      this.vetted = { fileKey, generation, ...(pem === undefined ? {} : { usable: await this.check(pem) }) };
    } catch (err) {
      if (err instanceof CertificateRefusedError) {
        this.vetted = { fileKey, generation };
        this.opts.onRefused(err.message);
      } else {
        // Nothing is remembered, so the next request tries again; meanwhile nothing is used.
        this.vetted = undefined;
        this.opts.onError(err);
      }
    }
  }

  private async check(pem: string): Promise<NonNullable<Vetted["usable"]>> {
    const c = await checkOurCertificate(pem, {
      ca: this.opts.ca,
      lookup: (s) => this.opts.lookup(s),
      now: this.opts.now(),
    });
    if (c.identity !== RECOVERY_IDENTITY)
      throw new CertificateRefusedError(`its identity is "${c.identity}", not the reserved "${RECOVERY_IDENTITY}"`);
    if (this.opts.isRevoked(c.serial)) throw new CertificateRefusedError(`it is revoked (serial ${c.serial})`);
    return { pem: c.pem, serial: c.serial, notAfter: c.notAfter.getTime() };
  }
}

export interface ServerRecoveryDeps {
  home: string;
  ca: { rootPem: string; intermediatePem: string };
  registry: { get(serial: string): Promise<CertificateRecord | null> };
  watcher: { isRevoked(serial: string): boolean; crlDer: Uint8Array };
  log: Logger;
  audit: { append(event: AuditEvent): Promise<void> };
  now: () => Date;
}

/** The server's recovery certificate, vetted once before the server listens. */
export async function serverRecoveryCertificate(deps: ServerRecoveryDeps): Promise<RecoveryCertificate> {
  const { log, audit, now, watcher } = deps;
  const recovery = new RecoveryCertificate({
    path: recoveryPaths(deps.home).cert,
    ca: deps.ca,
    lookup: (serial) => deps.registry.get(serial),
    isRevoked: (serial) => watcher.isRevoked(serial),
    // The watcher issues a new CRL on every registry change: the CRL object's identity is the registry's generation.
    generation: () => watcher.crlDer,
    now,
    onRefused(reason) {
      log.error({ reason }, "HOME/ca/recovery.crt refused: records are sealed without a recovery recipient");
      audit
        .append({
          time: now(),
          actor: "certvault",
          action: "recovery.certificate_refused",
          status: 0,
          detail: { reason },
        })
        .catch((err: unknown) =>
          log.error({ err: (err as Error).message }, "could not audit a refused recovery certificate"),
        );
    },
    onError: (err) =>
      log.error(
        { err: (err as Error).message },
        "could not vet HOME/ca/recovery.crt; records are sealed without it until it can be",
      ),
  });
  await recovery.refresh();
  return recovery;
}
