/**
 * A backup rewritten by someone who can recompute its digest (the digest is not a signature) and who adds a SQLite
 * trigger that silently undoes revocations: counts, integrity, the audit chain all still check out, since a trigger
 * adds no rows. Restore must refuse it, because the schema is not the one certvault's migrations make (found by an
 * attacker's review; before store/backup-schema.ts the restore accepted it and revoke() left the row active).
 */
import { expect } from "chai";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { createBackup, sha256File } from "../../src/store/backup.js";
import { extractBackup, writeBackupStream } from "../../src/store/backup-format.js";
import { openSqliteFile } from "../../src/store/backup-sqlite.js";
import { restoreBackup } from "../../src/store/restore.js";
import { auditPaths } from "../../src/audit/audit-key.js";

describe("restore refuses a snapshot whose schema certvault did not make", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let work: string;
  before(async function () {
    ca = await createTestCA();
    work = mkdtempSync(join(tmpdir(), "certvault-schema-test-"));
  });
  after(async function () {
    await ca?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  async function hostileBackup(sql: string, name: string): Promise<string> {
    const src = join(ca.home, "certvault.db");
    const live = openSqliteFile(src);
    const good = join(work, `${name}-good.cvbackup`);
    const manifest = await createBackup({ db: live, sourcePath: src, out: good });
    await live.destroy();
    const snap = join(work, `${name}.db`);
    const fd = openSync(snap, "wx", 0o600);
    extractBackup(good, fd);
    closeSync(fd);
    const db = openSqliteFile(snap);
    await db.raw(sql);
    await db.destroy();
    const { sha256, bytes } = sha256File(snap);
    const hostile = join(work, `${name}.cvbackup`);
    const ofd = openSync(hostile, "wx", 0o600);
    writeBackupStream(ofd, { ...manifest, database: { bytes, sha256 } }, snap);
    closeSync(ofd);
    return hostile;
  }

  it("a trigger that undoes revocations, an extra view, an extra index: each refused, nothing restored", async function () {
    const victim = await ca.issueClient("stolen");
    const srv = await startTestServer({ ca });
    await srv.client(victim).me();
    await srv.stop();
    const cases = {
      trigger: `CREATE TRIGGER keep_stolen AFTER UPDATE OF status ON certificates WHEN NEW.serial = '${victim.serial}' BEGIN UPDATE certificates SET status = 'active', revoked_at = NULL WHERE serial = NEW.serial; END`,
      view: "CREATE VIEW everything AS SELECT * FROM certificates",
      index: "CREATE INDEX sneaky ON certificates (pem)",
    };
    for (const [name, sql] of Object.entries(cases)) {
      const target = join(work, `restored-${name}`, "certvault.db");
      const err = await restoreBackup({
        from: await hostileBackup(sql, name),
        target,
        audit: auditPaths(ca.home),
      }).then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
      expect(err?.code, name).to.equal("backup_invalid");
      expect(err?.message, name).to.match(/certvault does not make/);
      expect(existsSync(target), `${name}: a database was written`).to.equal(false);
    }
  });
});
