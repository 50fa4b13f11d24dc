/**
 * Quarantine in one place: which identities this node refuses (quarantine-gate.ts, read-budget.ts), putting one in
 * quarantine when a high-severity anomaly fires (findings.ts), and releasing one (the operator console; the CLI
 * releases through anomaly/release.ts and the store). Stored in the database (store/quarantine.ts), whose changes bump
 * the registry revision: the revocation watcher calls `reload()` on each change, so every node follows within one
 * poll (at once on PostgreSQL, through NOTIFY).
 */
import type { Logger } from "pino";
import type { Finding } from "./rules.js";
import type { OperationAudit } from "../audit/audited-operation.js";
import type { AuditEvent } from "../audit/chain.js";
import { releaseQuarantine } from "./release.js";
import type { QuarantineRepository } from "../store/quarantine.js";

/** The port the request path uses. */
export interface Quarantine {
  isQuarantined(identity: string): boolean;
  /** Quarantines now in this process and records it for every node; resolves once stored. */
  quarantine(identity: string, finding: Finding): Promise<void>;
  /** Releases, audited under the admin `audit` names; this node lets the identity in at once. false: it was not. */
  release(identity: string, audit: OperationAudit): Promise<boolean>;
}

export interface QuarantineOptions {
  audit: { append(event: AuditEvent): Promise<void> };
  log: Logger;
  now: () => Date;
  /** An identity is no longer quarantined (released here or elsewhere): forget its anomaly counts. */
  onRelease: (identity: string) => void;
}

export class QuarantineList implements Quarantine {
  private quarantined = new Set<string>();
  /** Quarantined here but not stored yet: kept across reloads until the store has it. */
  private readonly pending = new Set<string>();
  private closing = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly store: Pick<QuarantineRepository, "add" | "list" | "release">,
    private readonly opts: QuarantineOptions,
  ) {}

  isQuarantined(identity: string): boolean {
    return this.quarantined.has(identity);
  }

  /** Reads the stored quarantines again (the revocation watcher, on a registry change); rejects when it cannot. */
  async reload(): Promise<void> {
    const before = this.quarantined;
    this.quarantined = new Set([...(await this.store.list()).map((q) => q.identity), ...this.pending]);
    for (const id of before) if (!this.quarantined.has(id)) this.opts.onRelease(id);
  }

  async quarantine(identity: string, finding: Finding): Promise<void> {
    this.quarantined.add(identity);
    this.pending.add(identity);
    await this.storeUntilDone(identity, finding);
    this.pending.delete(identity);
    await this.opts.audit.append({
      time: this.opts.now(),
      actor: "certvault",
      action: "quarantine.add",
      status: 0,
      detail: { identity, rule: finding.rule },
    });
  }

  async release(identity: string, audit: OperationAudit): Promise<boolean> {
    const released = await releaseQuarantine(this.store, audit, identity);
    if (released && this.quarantined.delete(identity)) this.opts.onRelease(identity);
    return released;
  }

  /** Stops retrying stores (shutdown): a quarantine not stored by now stays with this process. */
  close(): void {
    this.closing = true;
    this.wake?.();
  }

  /** Until it is stored, this node alone refuses the identity (and `quarantine release` cannot see it): retry. */
  private async storeUntilDone(identity: string, finding: Finding): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.add({ identity, rule: finding.rule, reason: finding.message, since: this.opts.now() });
        return;
      } catch (err) {
        this.opts.log.error(
          { code: (err as { code?: string }).code, identity, attempt },
          "could not store a quarantine; retrying",
        );
        if (this.closing) throw err;
        await this.pause(Math.min(30_000, 250 * 2 ** attempt));
      }
    }
  }

  /** Exponential back-off between stores; cut short by close(). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
