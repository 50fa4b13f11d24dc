/**
 * The audit writer. Appends are group-committed: events that arrive while a transaction is in flight go into the
 * next one, so many concurrent requests cost one write, and each request still waits until its own entry is
 * committed (a request whose entry cannot be written fails). Checkpoints are signed every `checkpointEvery`
 * entries or `checkpointMs`, whichever comes first, when this process holds the audit key, and only over a chain that
 * continues, entry by entry, from a signed checkpoint this node trusts: its own last one, else the newest genuine one
 * in its HOME (anchor.json, checkpoints.log, whose first line is the genesis record written when the key was made
 * there). A node with neither trusts nothing the database says and signs nothing. Each checkpoint goes to the
 * append-only HOME/audit/checkpoints.log before the database.
 */
import type { DataSigner } from "../ca/sign.js";
import { MAX_ROWS } from "../store/audit.js";
import type { AuditRepository } from "../store/audit.js";
import type { AuditEvent } from "./chain.js";
import { signCheckpointWith, writeAnchor } from "./audit-key.js";
import { entryHash } from "./chain.js";
import { AuditChainBrokenError, AuditCheckpointFileError } from "../errors/index.js";
import { appendCheckpoints } from "./checkpoint-file.js";
import { newestTrusted, trustedCheckpoints } from "./checkpoint-log.js";
import type { AuditPaths } from "./audit-key.js";

export interface AuditLogOptions {
  /**
   * The audit key (a key file's or one in the CA's token: audit-key.ts openAuditSigner) and where the anchor goes;
   * without them no checkpoints are signed by this process.
   */
  signing?: { key: DataSigner; paths: AuditPaths };
  checkpointEvery?: number;
  checkpointMs?: number;
  now?: () => Date;
  onError?: (err: unknown) => void;
  /** After each commit: how many entries it held. */
  onBatch?: (entries: number) => void;
  /** After each continuity check: the refusal when the chain is broken, undefined when a checkpoint was signed. */
  onChainState?: (broken: AuditChainBrokenError | undefined) => void;
}

interface Pending {
  event: AuditEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const MAX_BATCH = MAX_ROWS;
/** Entries the checkpoint signer reads and checks in one turn of the event loop (continuesFrom). */
const CONTINUITY_SLICE = 500;

export class AuditLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private sinceCheckpoint = 0;
  private lastCheckpointAt = 0;
  /** The newest checkpoint this process signed (or found genuine in the anchor): the next one must continue it. */
  private signed: { seq: number; hash: string } | undefined;
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
      this.timer = setInterval(
        () => void this.checkpoint().catch((err: unknown) => opts.onError?.(err)),
        opts.checkpointMs,
      );
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
    while (this.queue.length > 0) {
      // A batch is what arrived up to the end of this turn of the event loop: every request whose bytes came in the
      // same poll phase appends before the commit. better-sqlite3 commits synchronously, so waiting only for a
      // microtask (as this did) made every batch one entry: at c=50, 5,511 commits for 5,511 requests, each
      // ~130 us of SQLite (CPU profile, docs/performance.md). On PostgreSQL, entries that arrive while a commit is
      // in flight still form the next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        const entries = await this.repo.append(
          batch.map((p) => p.event),
          this.tail,
        );
        const last = entries[entries.length - 1];
        if (last) this.tail = { seq: last.seq, hash: last.hash };
        for (const p of batch) p.resolve();
        this.opts.onBatch?.(batch.length);
        this.sinceCheckpoint += batch.length;
      } catch (err) {
        this.tail = undefined;
        for (const p of batch) p.reject(err);
      }
      // Also under sustained load (the queue never empties), but at most once a second.
      if (
        this.opts.signing &&
        this.sinceCheckpoint >= (this.opts.checkpointEvery ?? 100) &&
        this.now().getTime() - this.lastCheckpointAt >= 1000
      ) {
        this.lastCheckpointAt = this.now().getTime();
        void this.checkpoint().catch((err: unknown) => this.opts.onError?.(err));
      }
    }
    this.flushing = undefined;
  }

  /** Signs the chain's current tail (if anything was appended since the last checkpoint). */
  async checkpoint(): Promise<void> {
    const signing = this.opts.signing;
    if (!signing) return;
    if (this.checkpointing) return this.checkpointing;
    this.checkpointing = (async () => {
      try {
        const counted = this.sinceCheckpoint;
        // The newest checkpoint row before the tail: honest nodes only add entries, so it can never be past the tail.
        const last = (await this.repo.lastCheckpoint())?.seq ?? 0;
        const tail = await this.repo.tail();
        if (tail.seq === 0 && last === 0) return;
        if (last === tail.seq) return;
        // Sign only a chain that continues, entry by entry, from what this key signed last: otherwise whoever can
        // write the table could rewrite it, delete the checkpoints, and have the server bless the forgery.
        const checked = await this.checkedTail(last, tail);
        if ("problem" in checked) {
          const broken = new AuditChainBrokenError(checked.problem);
          this.opts.onChainState?.(broken);
          throw broken;
        }
        const c = await signCheckpointWith(signing.key, tail.seq, checked.hash, this.now());
        // Outside the database first: a checkpoint the table lacks is harmless, one only the table holds can be deleted.
        appendCheckpoints(signing.paths.log, [c]);
        await this.repo.addCheckpoint(c);
        writeAnchor(signing.paths, c);
        this.signed = { seq: c.seq, hash: c.hash };
        this.opts.onChainState?.(undefined);
        this.sinceCheckpoint = Math.max(0, this.sinceCheckpoint - counted);
      } finally {
        this.checkpointing = undefined;
      }
    })();
    return this.checkpointing;
  }

  /**
   * The hash to sign for `tail`: the one the entry-by-entry check ended on, and only when the tail row still says the
   * same (a row changed between the tail's read and its check is refused, never signed). Sequence numbers a database
   * writer made up (TEXT, REAL, NaN: SQLite's column takes them) are refused before anything is compared.
   */
  private async checkedTail(
    last: number,
    tail: { seq: number; hash: string },
  ): Promise<{ problem: string } | { hash: string }> {
    const bad = [last, tail.seq].find((n) => !Number.isSafeInteger(n) || n < 0);
    if (bad !== undefined)
      return { problem: `an entry or checkpoint row has a sequence number that is not a whole number (${bad})` };
    if (last > tail.seq)
      return {
        problem: `a checkpoint row names entry ${last}, past the chain's last entry ${tail.seq} (entries removed, or a row planted to stop checkpoints)`,
      };
    const checked = await this.continuityProblem(tail.seq);
    if (typeof checked === "string") return { problem: checked };
    if (checked.hash !== tail.hash) return { problem: `entry ${tail.seq} changed while the chain was checked` };
    return checked;
  }

  /** Why the stored chain does not continue from the last signed checkpoint up to `toSeq`, or its hash there. */
  private async continuityProblem(toSeq: number): Promise<string | { hash: string }> {
    const signing = this.opts.signing as NonNullable<AuditLogOptions["signing"]>;
    if (this.signed === undefined) {
      // First checkpoint of this process: start from the newest genuine checkpoint in HOME, never from the database.
      let trusted;
      try {
        trusted = newestTrusted(trustedCheckpoints(signing.paths, signing.key.publicKey));
      } catch (err) {
        if (err instanceof AuditCheckpointFileError) return err.message;
        throw err;
      }
      if (!trusted) {
        return `this node trusts no signed checkpoint (neither ${signing.paths.anchor} nor ${signing.paths.log} exists), so it cannot tell the stored chain from a rewritten one; give it the checkpoints ("certvault audit checkpoints --import FILE")`;
      }
      this.signed = { seq: trusted.seq, hash: trusted.hash };
    }
    return this.continuesFrom(this.signed, toSeq);
  }

  /**
   * Reads the stored entries after `from` up to `toSeq` in slices of CONTINUITY_SLICE (each slice every row in
   * (lo, lo + CONTINUITY_SLICE], so that no row of any value falls between two), checking each one's link and
   * hash, with a turn of the event loop between slices: under load the signer checks ~3,000 entries a second, which
   * held the event loop for 25-50 ms at once (reading them through knex, then hashing; seen as the p99 of
   * GET /v1/me). The cost per entry, measured on this machine: ~3-5 us to read (raw rows, store/audit.ts between) and
   * ~3-5 us to hash again.
   */
  private async continuesFrom(from: { seq: number; hash: string }, toSeq: number): Promise<string | { hash: string }> {
    if (from.seq > 0) {
      const rows = await this.repo.between(from.seq - 1, from.seq);
      const signed = rows[rows.length - 1];
      if (signed?.seq !== from.seq) return `entry ${from.seq}, the last signed one, is missing`;
      if (rows.length !== 1 || signed.hash !== from.hash)
        return `entry ${from.seq} no longer matches the last signed checkpoint`;
    }
    let prev = from.hash;
    let expected = from.seq + 1;
    for (let lo = from.seq; lo < toSeq; lo += CONTINUITY_SLICE) {
      if (lo > from.seq) await new Promise<void>((resolve) => setImmediate(resolve));
      const hi = Math.min(toSeq, lo + CONTINUITY_SLICE);
      for (const e of await this.repo.between(lo, hi)) {
        if (e.seq !== expected) return `entry ${expected} is missing`;
        if (e.prevHash !== prev || entryHash(e.seq, e.prevHash, e) !== e.hash)
          return `entry ${e.seq} does not continue the signed chain`;
        prev = e.hash;
        expected++;
      }
      if (expected !== hi + 1) return `entry ${expected} is missing`;
    }
    return { hash: prev };
  }

  /** Waits for pending appends, then signs a last checkpoint. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.flushing) await this.flushing;
    await this.checkpoint();
  }
}
