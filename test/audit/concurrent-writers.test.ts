/** Two writers (think: the server and a CLI command, each with its own connection) append to one chain at once. */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/store/db.js";
import { AuditRepository } from "../../src/store/audit.js";
import { AuditLog } from "../../src/audit/audit-log.js";
import { verifyChain } from "../../src/audit/chain.js";

describe("audit: concurrent writers", function () {
  this.timeout(60_000);

  it("two processes' worth of appenders leave one valid chain with every entry, in commit order", async function () {
    const dir = mkdtempSync(join(tmpdir(), "certvault-audit-conc-"));
    const file = join(dir, "audit.db");
    const [a, b] = [await openDatabase(file), await openDatabase(file)];
    try {
      const logs = [new AuditLog(new AuditRepository(a)), new AuditLog(new AuditRepository(b))];
      const perWriter = 400;
      await Promise.all(
        logs.flatMap((log, w) =>
          Array.from({ length: 8 }, async (_, lane) => {
            for (let i = 0; i < perWriter / 8; i++)
              await log.append({
                time: new Date(),
                actor: `writer${w}`,
                action: "me",
                status: 200,
                requestId: `${w}-${lane}-${i}`,
              });
          }),
        ),
      );
      const entries = await new AuditRepository(a).all();
      expect(entries).to.have.length(2 * perWriter);
      expect(verifyChain(entries, [], () => true)).to.deep.equal({ ok: true, entries: 2 * perWriter, checkpoints: 0 });
      expect(new Set(entries.map((e) => e.requestId)).size).to.equal(2 * perWriter);
      // Strict alternation: each writer's remembered tail is stale every time, so every append takes the path that
      // finds the primary key taken and links again onto the real tail.
      for (let i = 0; i < 10; i++)
        await logs[i % 2]?.append({
          time: new Date(),
          actor: `alt${i % 2}`,
          action: "me",
          status: 200,
          requestId: `alt-${i}`,
        });
      const after = await new AuditRepository(b).all();
      expect(after.slice(-10).map((e) => e.actor)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `alt${i % 2}`));
      expect(verifyChain(after, [], () => true)).to.deep.equal({
        ok: true,
        entries: 2 * perWriter + 10,
        checkpoints: 0,
      });
    } finally {
      await a.destroy();
      await b.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
