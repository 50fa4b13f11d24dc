/**
 * The recovery waiting period (recovery/waiting-period.ts, recovery/recovery-service.ts) on an injected clock: no
 * sleeps, no faketime. A recovery requested at T may not run a millisecond before T + wait, runs at T + wait, and
 * re-wraps the identity's records for its new certificate (openssl opens the result with the new key); a period
 * shorter than the one fixed at init is refused whatever the caller asks.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { open, seal } from "../../src/envelope/index.js";
import { setUpRecovery } from "../../src/recovery/setup.js";
import { RecoveryService } from "../../src/recovery/recovery-service.js";
import { waitHoursFor } from "../../src/recovery/waiting-period.js";
import { operationAudit } from "../../src/audit/audited-operation.js";
import { AuditRepository } from "../../src/store/audit.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import { RecordRepository } from "../../src/store/records.js";
import { RecoveryRequestRepository } from "../../src/store/recovery-requests.js";
import { openssl } from "../helpers/openssl.js";

const HOUR = 3_600_000;

describe("recovery: the waiting period, on an injected clock", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let time: Date;
  let service: RecoveryService;
  before(async function () {
    ca = await createTestCA();
    time = new Date("2030-01-01T00:00:00Z");
    service = new RecoveryService({
      requests: new RecoveryRequestRepository(ca.db),
      registry: new CertificateRepository(ca.db),
      records: new RecordRepository(ca.db),
      audit: operationAudit(new AuditRepository(ca.db), "test-operator", () => time),
      now: () => time,
    });
  });
  after(async function () {
    await ca.cleanup();
  });

  it("the period asked for is never shorter than the policy's; the policy's by default", function () {
    expect(waitHoursFor(undefined, { minWaitHours: 24 })).to.equal(24);
    expect(waitHoursFor(48, { minWaitHours: 24 })).to.equal(48);
    expect(waitHoursFor(0, { minWaitHours: 0 })).to.equal(0);
    expect(() => waitHoursFor(23.5, { minWaitHours: 24 })).to.throw(/cannot be shorter than the 24 h/);
    expect(() => waitHoursFor(NaN, { minWaitHours: 0 })).to.throw(/cannot be shorter/);
  });

  it("refuses a millisecond before the end of the period, recovers at its end", async function () {
    const [c1, c2, c3] = await Promise.all([ca.issueClient("cust1"), ca.issueClient("cust2"), ca.issueClient("cust3")]);
    if (!c1 || !c2 || !c3) throw new Error("custodians");
    const setup = await setUpRecovery(
      ca.authority,
      [c1, c2, c3].map((c) => ({ pem: c.certPem, source: c.name })),
      2,
    );
    const lost = await ca.issueClient("dora");
    const records = new RecordRepository(ca.db);
    const id = randomBytes(16).toString("hex");
    const plaintext = new TextEncoder().encode("dora's record");
    await records.insert({
      id,
      owner: "dora",
      envelope: seal(plaintext, [lost.certPem, setup.certificatePem]),
      now: time,
    });
    const renewed = await ca.issueClient("dora");
    const shares = [c1, c3].map((c, i) =>
      open((setup.shares[i === 0 ? 0 : 2] as { envelope: Uint8Array }).envelope, c.key, c.certPem),
    );
    const recover = () =>
      service.recover({
        identity: "dora",
        newCertPem: renewed.certPem,
        shares,
        waitHours: 24,
        recoveryCertPem: setup.certificatePem,
      });

    const requestedAt = time;
    await service.request("dora", "cli:test");
    time = new Date(requestedAt.getTime() + 24 * HOUR - 1);
    let early: unknown;
    await recover().catch((err: unknown) => (early = err));
    expect(String(early)).to.match(/the waiting period for "dora" ends at 2030-01-02T00:00:00.000Z/);
    expect(await records.version("dora", id)).to.equal(1);
    // A second request does not move the start of the period.
    await service.request("dora", "cli:test");

    time = new Date(requestedAt.getTime() + 24 * HOUR);
    const r = await recover();
    expect(r).to.deep.include({ rewrapped: 1, skipped: 0, notRecoverable: 0, toSerial: renewed.serial });
    expect(await new RecoveryRequestRepository(ca.db).get("dora")).to.equal(null);
    // The new key opens the re-wrapped record (openssl as the judge).
    const found = await records.getEnvelope("dora", id);
    const der = join(ca.home, "dora.der");
    writeFileSync(der, found?.envelope ?? new Uint8Array());
    const o = await openssl([
      "cms",
      "-decrypt",
      "-inform",
      "DER",
      "-in",
      der,
      "-inkey",
      renewed.keyPath,
      "-recip",
      renewed.certPath,
    ]);
    expect(o.code, o.stderr).to.equal(0);
    expect(o.stdout).to.equal("dora's record");
    // Both attempts are in the audit trail at the injected times, the refused one as failed.
    const trail = (
      (await ca.db("audit_entries").where({ action: "recovery.recover" }).orderBy("seq")) as {
        time: number | string;
        detail: string;
      }[]
    ).map((e) => [Number(e.time) - requestedAt.getTime(), (JSON.parse(e.detail) as { phase: string }).phase]);
    expect(trail).to.deep.equal([
      [24 * HOUR - 1, "attempt"],
      [24 * HOUR - 1, "failed"],
      [24 * HOUR, "attempt"],
      [24 * HOUR, "done"],
    ]);
  });
});
