/**
 * Renewal approval (ca/renewal-approval.ts): the request is claimed only once its certificate exists, in the same
 * transaction that stores it. A failed issuance (here: a wrong CA passphrase, a real decryption failure) leaves the
 * request pending and stores nothing; two admins approving at once issue exactly one active certificate. Runs on
 * PostgreSQL too (CERTVAULT_TEST_DB), where the losing claim waits on the winner's row lock.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { FileKeyStore, createKeyAndCsr } from "../../src/client-sdk/index.js";
import { CertificateAuthority } from "../../src/ca/authority.js";
import { loadCaSigner } from "../../src/ca/pkcs11-record.js";
import type { Signer } from "../../src/ca/sign.js";
import { RenewalApproval } from "../../src/ca/renewal-approval.js";
import { operationAudit } from "../../src/audit/audited-operation.js";
import { AuditRepository } from "../../src/store/audit.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import { CertificateRequestRepository } from "../../src/store/certificate-requests.js";
import { openDatabase } from "../../src/store/db.js";
import type { Db } from "../../src/store/db.js";
import { runCli } from "../helpers/cli.js";
import { openssl } from "../helpers/openssl.js";

const NOW = new Date();
const clock = (): Date => NOW;

/** A pending renewal request of `who`, as the server files it (POST /v1/certificates/requests under "manual"). */
async function fileRequest(ca: TestCA, who: TestIdentity): Promise<string> {
  const { csrPem } = await createKeyAndCsr({
    name: who.name,
    keyType: "ec-p256",
    store: new FileKeyStore(join(ca.home, `${who.name}-${randomBytes(4).toString("hex")}.key`)),
    passphrase: "a new key passphrase",
  });
  const id = randomBytes(16).toString("hex");
  await new CertificateRequestRepository(ca.db).insert({
    id,
    identity: who.name,
    csr: csrPem,
    requestedBy: who.serial,
    status: "pending",
    serial: null,
    createdAt: NOW,
  });
  return id;
}

/** The service as an admin front end builds it, over `db`, with the CA's key behind `signer`. */
function approvalOn(ca: TestCA, db: Db, signer: () => Promise<Signer>): RenewalApproval {
  const registry = new CertificateRepository(db);
  const audit = operationAudit(new AuditRepository(db), "test-admin", clock);
  const authority = new CertificateAuthority({ paths: ca.paths, registry, audit, signer, now: clock });
  return new RenewalApproval({
    ca: authority,
    requests: new CertificateRequestRepository(db),
    registry,
    audit,
    now: clock,
  });
}

const activeSerials = async (ca: TestCA, identity: string): Promise<string[]> =>
  ((await ca.db("certificates").where({ identity, status: "active" }).select("serial")) as { serial: string }[]).map(
    (r) => r.serial,
  );

const requestRow = async (ca: TestCA, id: string): Promise<{ status: string; serial: string | null }> =>
  (await ca.db("certificate_requests").where({ id }).first("status", "serial")) as {
    status: string;
    serial: string | null;
  };

describe("renewal approval: the request is claimed only once its certificate exists", function () {
  this.timeout(60_000);
  let ca: TestCA;
  before(async function () {
    ca = await createTestCA();
  });
  after(async function () {
    await ca.cleanup();
  });

  it("a wrong CA passphrase leaves the request pending and no certificate; the right one then issues it", async function () {
    const alice = await ca.issueClient("alice");
    const id = await fileRequest(ca, alice);
    const before = await activeSerials(ca, "alice");
    // One service, two attempts: the admin mistypes the passphrase, then gets it right.
    const typed = ["not the CA passphrase", ca.passphrase];
    const approval = approvalOn(ca, ca.db, () =>
      loadCaSigner(ca.paths, { passphrase: async () => typed.shift() as string }),
    );
    let refused: unknown;
    await approval.approve(id, 30).catch((err: unknown) => (refused = err));
    expect(refused, "the wrong passphrase must fail the approval").to.be.instanceOf(Error);
    expect(await requestRow(ca, id)).to.deep.equal({ status: "pending", serial: null });
    expect(await activeSerials(ca, "alice")).to.deep.equal(before);

    const decision = await approval.approve(id, 30);
    expect(decision.status).to.equal("issued");
    const serial = (decision as { serial: string }).serial;
    expect(await requestRow(ca, id)).to.deep.equal({ status: "issued", serial });
    expect(await activeSerials(ca, "alice")).to.have.members([...before, serial]);
    // The stored certificate is the CA's own (openssl as the judge).
    const cert = await new CertificateRepository(ca.db).get(serial);
    const file = join(ca.home, `approved-${serial}.pem`);
    writeFileSync(file, cert?.pem ?? "");
    const v = await openssl(["verify", "-CAfile", ca.paths.rootCert, "-untrusted", ca.paths.intermediateCert, file]);
    expect(v.stdout).to.match(/: OK/);
  });

  it("two admins approving one request at once issue exactly one active certificate", async function () {
    const bob = await ca.issueClient("bob");
    const id = await fileRequest(ca, bob);
    const before = await activeSerials(ca, "bob");
    const signer = await ca.signer();
    // Each admin on a connection of its own; neither may sign until both have found the request pending and reached
    // the CA: the race is certain, not left to scheduling.
    let arrived = 0;
    let bothThere: () => void = () => undefined;
    const barrier = new Promise<void>((r) => (bothThere = r));
    const racingSigner = async (): Promise<Signer> => {
      if (++arrived === 2) bothThere();
      await barrier;
      return signer;
    };
    const dbs = [await openDatabase(ca.dbTarget), await openDatabase(ca.dbTarget)];
    try {
      const racing = dbs.map((db) => approvalOn(ca, db, racingSigner).approve(id, 30));
      // An approval that ends before reaching the CA (refused at its claim) opens the barrier for the other one.
      for (const p of racing) void p.catch(() => undefined).finally(bothThere);
      const results = await Promise.allSettled(racing);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r) => r.status === "rejected");
      expect(won).to.have.length(1);
      expect(lost).to.have.length(1);
      expect(String((lost[0] as PromiseRejectedResult).reason)).to.match(/decided meanwhile/);
      // Both found the request pending and both signed: the race was run, and the loser's certificate was never stored.
      expect(arrived).to.equal(2);
      const serial = ((won[0] as PromiseFulfilledResult<{ serial: string }>).value as { serial: string }).serial;
      expect(await activeSerials(ca, "bob")).to.have.members([...before, serial]);
      expect(await requestRow(ca, id)).to.deep.equal({ status: "issued", serial });
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });

  it("the CLI: a wrong passphrase file exits 1 and the request stays pending; the right one approves it", async function () {
    const carol = await ca.issueClient("carol");
    const id = await fileRequest(ca, carol);
    const wrong = join(ca.home, "wrong-passphrase");
    writeFileSync(wrong, "not the CA passphrase\n", { mode: 0o600 });
    const failed = await runCli(["requests", "approve", id, ...ca.cliArgs, "--passphrase-file", wrong]);
    expect(failed.code, failed.stderr).to.equal(1);
    expect(await requestRow(ca, id)).to.deep.equal({ status: "pending", serial: null });
    expect(await activeSerials(ca, "carol")).to.deep.equal([carol.serial]);
    const ok = await runCli(["requests", "approve", id, ...ca.cliArgs, "--passphrase-file", ca.passphraseFile]);
    expect(ok.code, ok.stderr).to.equal(0);
    const row = await requestRow(ca, id);
    expect(row.status).to.equal("issued");
    expect(ok.stdout).to.equal(`issued ${id} (serial ${row.serial})\n`);
    expect(await activeSerials(ca, "carol")).to.have.members([carol.serial, row.serial]);
  });
});
