/**
 * The drill's load: several identities writing records concurrently through the SDK (signed and sealed on the client),
 * each record's content carrying a unique marker, with the instant its write was acknowledged.
 */
import { randomBytes } from "node:crypto";
import { CertvaultClient } from "../../src/client-sdk/index.js";
import type { MemoryTrustState } from "../../src/client-sdk/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";

export interface Written {
  id: string;
  owner: string;
  content: Buffer;
  /** Date.now() once the server's 201 was in. */
  ackedAt: number;
}

/** A client for `id` on `url`, checking a fresh CRL on every write; `trust` survives the node (trust.json is on the user's machine). */
export function sdkClient(ca: TestCA, id: TestIdentity, url: string, trust: MemoryTrustState): CertvaultClient {
  return new CertvaultClient({
    server: url,
    caPem: ca.rootPem,
    certPem: id.certPem,
    key: id.key,
    trustState: trust,
    retries: 0,
    crlMaxAgeMs: 0,
  });
}

export const RUN = randomBytes(6).toString("hex");

export function marker(owner: string, n: number): string {
  return `DRILL-PLAINTEXT-${RUN}-${owner}-${n}`;
}

export class Load {
  readonly written: Written[] = [];
  readonly failures: unknown[] = [];
  private stopping = false;
  private running: Promise<void>[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  /** Starts `perIdentity` concurrent writers for each client. */
  start(clients: ReadonlyMap<string, CertvaultClient>, perIdentity = 2): void {
    for (const [owner, client] of clients) {
      for (let w = 0; w < perIdentity; w++) this.running.push(this.writer(owner, client, w));
    }
  }

  private async writer(owner: string, client: CertvaultClient, w: number): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const content = Buffer.from(`${marker(owner, w * 100_000 + n)}\n${randomBytes(64 + n * 7).toString("base64")}\n`);
      try {
        const id = await client.put(content);
        this.written.push({ id, owner, content, ackedAt: Date.now() });
      } catch (err) {
        this.failures.push(err);
        for (const waiter of this.waiters.splice(0)) waiter.resolve(); // the test reports the failure
        return;
      }
      for (const waiter of this.waiters.filter((x) => this.written.length >= x.count)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Resolves once `count` writes in all were acknowledged (or a writer failed, which the test then reports). */
  until(count: number): Promise<void> {
    if (this.written.length >= count || this.failures.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ count, resolve });
      void Promise.all(this.running).then(() => resolve());
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }
}
