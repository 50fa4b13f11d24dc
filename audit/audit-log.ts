/**
 * The audit writer. Appends are group-committed: events that arrive while a transaction is in flight go into the
 * next one, so many concurrent requests cost one write, and each request still waits until its own entry is
 * committed (a request whose entry cannot be written fails). Checkpoints are signed every `checkpointEvery`
 * entries or `checkpointMs`, whichever comes first, when this process holds the audit key.
 */
import type { KeyObject } from "node:crypto";
import { MAX_ROWS } from "../store/audit.js";
import type { AuditRepository } from "../store/audit.js";
import type { AuditEvent } from "./chain.js";
import { signCheckpoint, writeAnchor } from "./audit-key.js";
import type { AuditPaths } from "./audit-key.js";

export interface AuditLogOptions {
  /** Private audit key and where the anchor goes; without them no checkpoints are signed by this process. */
  signing?: { key: KeyObject; paths: AuditPaths };
  checkpointEvery?: number;
  checkpointMs?: number;
  now?: () => Date;
  onError?: (err: unknown) => void;
}

interface Pending {
  event: AuditEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const MAX_BATCH = MAX_ROWS;

export class AuditLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private sinceCheckpoint = 0;
  /** The last entry this process appended: the next batch links onto it without reading the table first. */
  private tail: { seq: number; hash: string } | undefined;
  private checkpointing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;

  constructor(
    private readonly repo: AuditRepository,
    private readonly opts: AuditLogOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    if (opts.signing && opts.checkpointMs) {
      this.timer = setInterval(() => void this.checkpoint().catch((err: unknown) => opts.onError?.(err)), opts.checkpointMs);
      this.timer.unref();
    }
  }

  /** Resolves once the entry is committed; rejects when it could not be written. */
  append(event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    // The first entry goes at once; whatever arrives while a batch is being written forms the next batch.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        const entries = await this.repo.append(batch.map((p) => p.event), this.tail);
        const last = entries[entries.length - 1];
        if (last) this.tail = { seq: last.seq, hash: last.hash };
        for (const p of batch) p.resolve();
        this.sinceCheckpoint += batch.length;
      } catch (err) {
        this.tail = undefined;
        for (const p of batch) p.reject(err);
      }
    }
    this.flushing = undefined;
    if (this.opts.signing && this.sinceCheckpoint >= (this.opts.checkpointEvery ?? 100)) {
      void this.checkpoint().catch((err: unknown) => this.opts.onError?.(err));
    }
  }

  /** Signs the chain's current tail (if anything was appended since the last checkpoint). */
  async checkpoint(): Promise<void> {
    const signing = this.opts.signing;
    if (!signing) return;
    if (this.checkpointing) return this.checkpointing;
    this.checkpointing = (async () => {
      try {
        const tail = await this.repo.tail();
        if (tail.seq === 0) return;
        const last = (await this.repo.lastCheckpoint())?.seq ?? 0;
        if (last >= tail.seq) return;
        const c = signCheckpoint(signing.key, tail.seq, tail.hash, this.now());
        await this.repo.addCheckpoint(c);
        writeAnchor(signing.paths, c);
        this.sinceCheckpoint = 0;
      } finally {
        this.checkpointing = undefined;
      }
    })();
    return this.checkpointing;
  }

  /** Waits for pending appends, then signs a last checkpoint. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.flushing) await this.flushing;
    await this.checkpoint();
  }
}
