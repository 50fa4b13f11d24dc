/**
 * A checkpoint row past the chain's end stops no node silently (issue 16): the tail truncated under a kept
 * checkpoint, or a row planted with a large entry number, is a refusal that reaches onChainState (the metric and the
 * alert in the server), not a quiet "nothing to sign" for ever after.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { AuditRepository } from "../../src/store/audit.js";
import { AuditLog } from "../../src/audit/audit-log.js";
import { auditPaths, ensureAuditKey, fileAuditSigner } from "../../src/audit/audit-key.js";
import type { AuditEvent } from "../../src/audit/chain.js";
import type { AuditChainBrokenError } from "../../src/errors/index.js";

const event = (i: number): AuditEvent => ({
  time: new Date(Date.UTC(2026, 10, 23) + i),
  actor: "alice",
  action: "me",
  status: 200,
  requestId: `r${i}`,
});

describe("audit: a checkpoint row past the chain's end", function () {
  let dir: string;
  let db: Db;
  let log: AuditLog;
  const states: (AuditChainBrokenError | undefined)[] = [];

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), "certvault-past-"));
    db = await openDatabase(join(dir, "audit.db"));
    const paths = auditPaths(dir);
    states.length = 0;
    log = new AuditLog(new AuditRepository(db), {
      signing: { key: fileAuditSigner(ensureAuditKey(paths, "audit test passphrase")), paths },
      onChainState: (s) => states.push(s),
    });
    for (let i = 0; i < 10; i++) await log.append(event(i));
    await log.checkpoint();
    expect(states).to.deep.equal([undefined]);
  });
  afterEach(async function () {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const refusal = async (): Promise<string | undefined> =>
    log.checkpoint().then(
      () => undefined,
      (err: unknown) => (err as { code?: string }).code,
    );

  it("the tail truncated under its checkpoint: refused and reported", async function () {
    await db("audit_entries").where("seq", ">", 6).delete();
    expect(await refusal()).to.equal("audit_chain_broken");
    expect(states[1]?.message).to.match(/a checkpoint row names entry 10, past the chain's last entry 6/);
  });

  it("a planted row far ahead: refused and reported", async function () {
    await db("audit_checkpoints").insert({ seq: 1_000_000, hash: "0".repeat(64), time: 0, signature: "AAAA" });
    await log.append(event(10));
    expect(await refusal()).to.equal("audit_chain_broken");
    expect(states[1]?.message).to.match(/entry 1000000, past the chain's last entry 11/);
  });
});
