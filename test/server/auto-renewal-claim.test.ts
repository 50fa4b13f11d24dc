/**
 * Auto-renewal on the server (server/services/certificates.ts) claims a request only once its certificate exists: the
 * reservation row is inserted under "issuing" and turns "issued", with its serial, in the transaction that stores the
 * certificate. A failed issuance whose release fails too (or a node that dies between the steps) leaves a reservation
 * that never reads "issued": it reads "issuing", then "failed" once stale; it keeps counting toward the renewal budget
 * (and toward the active cap while fresh), and a stale one can no longer be claimed. Real CA, real database (PostgreSQL
 * too with CERTVAULT_TEST_DB); the faults are a signer that throws or waits and a release that throws.
 */
import { expect } from "chai";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA, TestIdentity } from "../../src/testing/index.js";
import { x509, nodeCrypto } from "../../src/x509/x509.js";
import { generateKeyPair } from "../../src/keys/key-types.js";
import { CertificateAuthority } from "../../src/ca/authority.js";
import type { Signer } from "../../src/ca/sign.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import { CertificateRequestRepository } from "../../src/store/certificate-requests.js";
import { IssuanceBudget, RESERVATION_MS } from "../../src/store/issuance-budget.js";
import { CertificateService } from "../../src/server/services/certificates.js";
import type { Caller } from "../../src/server/middleware/auth.js";
import { countRows } from "../helpers/db.js";
import { runCli } from "../helpers/cli.js";

const LIMITS = {
  renewal: { points: 100, seconds: 86_400 },
  selfRevocation: { points: 100, seconds: 86_400 },
  maxActive: 3,
};

/** A budget whose release fails (the database went away between the failed issuance and the clean-up). */
class UnreleasableBudget extends IssuanceBudget {
  override release(): Promise<void> {
    return Promise.reject(new Error("release failed (injected)"));
  }
}

function callerOf(who: TestIdentity): Caller {
  return { identity: who.name, serial: who.serial, notBefore: 0, notAfter: Date.now() + 86_400_000, pem: who.certPem };
}

async function csrFor(name: string): Promise<Uint8Array> {
  const keys = await generateKeyPair("ec-p256");
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: [{ CN: [name] }], keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } },
    nodeCrypto,
  );
  return new TextEncoder().encode(csr.toString("pem") + "\n");
}

describe("server auto-renewal: a request reads issued only with its certificate", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let clock: number;
  const now = (): Date => new Date(clock);

  function serviceWith(signer: () => Promise<Signer>, budget: IssuanceBudget): CertificateService {
    const registry = new CertificateRepository(ca.db);
    const authority = new CertificateAuthority({ paths: ca.paths, registry, signer, now });
    return new CertificateService(new CertificateRequestRepository(ca.db), registry, authority, "auto", now, budget);
  }
  const rowsOf = (identity: string) =>
    ca.db("certificate_requests").where({ identity }).select("id", "status", "serial") as Promise<
      { id: string; status: string; serial: string | null }[]
    >;

  before(async function () {
    ca = await createTestCA();
  });
  beforeEach(function () {
    clock = Date.now();
  });
  after(async function () {
    await ca.cleanup();
  });

  it("a signer that throws and a release that throws leave no request that reads issued; the status never says issued", async function () {
    const alice = await ca.issueClient("alice");
    const svc = serviceWith(
      () => Promise.reject(new Error("token away (injected)")),
      new UnreleasableBudget(ca.db, LIMITS),
    );
    let failed: unknown;
    await svc.request(callerOf(alice), await csrFor("alice")).catch((e: unknown) => (failed = e));
    expect(failed, "the request failed").to.be.instanceOf(Error);
    const rows = await rowsOf("alice");
    expect(rows, "the reservation stayed (its release failed)").to.have.length(1);
    const row = rows[0] as { id: string; status: string; serial: string | null };
    expect(row.serial).to.equal(null);
    expect(row.status).to.not.equal("issued");
    expect(await countRows(ca.db("certificates").where({ identity: "alice" })), "no certificate stored").to.equal(1);
    const fresh = await svc.status(callerOf(alice), row.id);
    expect(fresh.status).to.equal("issuing");
    expect(fresh).to.not.have.property("certificate");
    clock += RESERVATION_MS + 1000;
    const stale = await svc.status(callerOf(alice), row.id);
    expect(stale).to.deep.equal({ id: row.id, status: "failed" });
  });

  it("a stale reservation keeps counting toward the renewal budget; a fresh one toward the active cap", async function () {
    const bob = await ca.issueClient("bob");
    const tight = { ...LIMITS, renewal: { points: 2, seconds: 86_400 }, maxActive: 2 };
    const broken = serviceWith(
      () => Promise.reject(new Error("token away (injected)")),
      new UnreleasableBudget(ca.db, tight),
    );
    await broken.request(callerOf(bob), await csrFor("bob")).catch(() => undefined);
    // bob holds 1 active certificate + 1 fresh reservation = the cap of 2.
    const working = serviceWith(() => ca.signer(), new IssuanceBudget(ca.db, tight));
    let capped: unknown;
    await working.request(callerOf(bob), await csrFor("bob")).catch((e: unknown) => (capped = e));
    expect(String(capped)).to.match(/already has 2 active certificates/);
    // Once stale it no longer holds a place under the cap, but it still spends the renewal budget (2 per day):
    clock += RESERVATION_MS + 1000;
    const issued = await working.request(callerOf(bob), await csrFor("bob"));
    expect(issued.status).to.equal("issued");
    let limited: unknown;
    await working.request(callerOf(bob), await csrFor("bob")).catch((e: unknown) => (limited = e));
    expect((limited as { code?: string }).code).to.equal("renewal_limited");
  });

  it("an issuance that outlives its reservation is not claimed: no certificate stored, the reservation released", async function () {
    const carol = await ca.issueClient("carol");
    let signerAsked!: () => void;
    const asked = new Promise<void>((r) => (signerAsked = r));
    let proceed!: () => void;
    const go = new Promise<void>((r) => (proceed = r));
    const slow = async (): Promise<Signer> => {
      signerAsked();
      await go;
      return ca.signer();
    };
    const svc = serviceWith(slow, new IssuanceBudget(ca.db, LIMITS));
    const pending = svc.request(callerOf(carol), await csrFor("carol")).then(
      () => null,
      (e: unknown) => e,
    );
    await asked;
    clock += RESERVATION_MS + 1000; // the reservation went stale while the CA was signing
    proceed();
    expect(await pending, "the late issuance failed").to.be.instanceOf(Error);
    expect(await countRows(ca.db("certificates").where({ identity: "carol" })), "no certificate stored").to.equal(1);
    expect(await rowsOf("carol"), "the reservation was released, never claimed").to.deep.equal([]);
  });

  it("a successful auto-renewal reads issued with its serial and certificate, also on GET status", async function () {
    const dave = await ca.issueClient("dave");
    const svc = serviceWith(() => ca.signer(), new IssuanceBudget(ca.db, LIMITS));
    const view = await svc.request(callerOf(dave), await csrFor("dave"));
    expect(view.status).to.equal("issued");
    const rows = await rowsOf("dave");
    expect(rows).to.deep.equal([{ id: view.id, status: "issued", serial: view.serial }]);
    const again = await svc.status(callerOf(dave), view.id);
    expect(again).to.deep.equal(view);
  });

  it("`certvault requests list` shows a stale reservation as failed, as the API does, and a fresh one as issuing", async function () {
    const base = { csr: "-", requested_by: "1", serial: null, decided_at: null };
    await ca.db("certificate_requests").insert([
      {
        ...base,
        id: "a".repeat(32),
        identity: "erin",
        status: "issuing",
        created_at: Date.now() - RESERVATION_MS - 60_000,
      },
      { ...base, id: "b".repeat(32), identity: "erin", status: "issuing", created_at: Date.now() },
    ]);
    const r = await runCli(["requests", "list", "--all", "--json", ...ca.cliArgs]);
    expect(r.code, r.stderr).to.equal(0);
    const shown = (JSON.parse(r.stdout) as { id: string; status: string }[]).filter((v) => /^[ab]{32}$/.test(v.id));
    expect(shown.map((v) => [v.id[0], v.status]).sort()).to.deep.equal([
      ["a", "failed"],
      ["b", "issuing"],
    ]);
  });
});
