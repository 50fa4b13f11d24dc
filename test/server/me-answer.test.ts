/**
 * GET /v1/me's answer is serialized once per caller certificate and reused (server/handlers/me-answer.ts). A reused
 * answer must never outlive what it says: another certificate of the caller's issued, revoked or expired, the
 * recovery certificate changed (test/recovery/recovery-certificate.test.ts plants and restores it between /v1/me
 * calls), or another caller's certificate under the same serial.
 */
import { expect } from "chai";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { MeAnswers } from "../../src/server/handlers/me-answer.js";
import type { CertificateRecord } from "../../src/store/certificates.js";
import type { Caller } from "../../src/server/middleware/auth.js";

describe("server: GET /v1/me's reused answer", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  /** The server's clock runs this far ahead of the real one. */
  let ahead = 0;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, now: () => new Date(Date.now() + ahead) });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  const me = async (id: TestIdentity) => server.client(id).me();
  const serialsIn = (pems: readonly string[], ids: TestIdentity[]) =>
    ids.filter((i) => pems.includes(i.certPem)).map((i) => i.serial);

  it("lists a certificate issued, then drops it once revoked, then drops one that expired", async function () {
    const a = await ca.issueClient("alice");
    const first = await me(a);
    expect(first.certificates).to.deep.equal([a.certPem]);
    expect((await me(a)).certificates).to.deep.equal([a.certPem]);

    const b = await ca.issueClient("alice");
    const c = await ca.issueClient("alice", { days: 2 });
    await server.syncRegistry();
    const all = [a, b, c];
    expect(serialsIn((await me(a)).certificates, all)).to.have.members([a.serial, b.serial, c.serial]);

    await ca.revoke(b);
    await server.syncRegistry();
    expect(serialsIn((await me(a)).certificates, all)).to.have.members([a.serial, c.serial]);

    ahead = 3 * 86_400_000; // c expired, a (90 days) not
    expect((await me(a)).certificates).to.deep.equal([a.certPem]);
  });

  describe("the cache itself", function () {
    const caller = (identity: string, serial: string, notAfter = 1_900_000_000_000): Caller => ({
      identity,
      serial,
      notBefore: 0,
      notAfter,
      pem: "",
    });
    const row = (pem: string) => ({ pem }) as CertificateRecord;

    it("the same rows and recovery: the same bytes; a row object changed, or the recovery: answered anew", function () {
      const answers = new MeAnswers();
      const r1 = row("PEM-1");
      const first = answers.body(caller("alice", "01"), [r1], null);
      expect(answers.body(caller("alice", "01"), [r1], null)).to.equal(first);
      const renewed = answers.body(caller("alice", "01"), [row("PEM-1")], null);
      expect(renewed).to.not.equal(first);
      const withRecovery = answers.body(caller("alice", "01"), [r1], "RECOVERY");
      expect(JSON.parse(withRecovery.toString("utf8"))).to.deep.include({
        certificates: ["PEM-1"],
        recovery: "RECOVERY",
      });
      const without = JSON.parse(answers.body(caller("alice", "01"), [r1], null).toString("utf8")) as object;
      expect(without).to.deep.include({ recovery: null });
    });

    it("another caller under the same serial never gets the first one's answer", function () {
      const answers = new MeAnswers();
      const rows = [row("PEM-1")];
      answers.body(caller("alice", "01"), rows, null);
      const bob = JSON.parse(answers.body(caller("bob", "01"), rows, null).toString("utf8")) as { identity: string };
      expect(bob.identity).to.equal("bob");
      const later = caller("bob", "01", 1_950_000_000_000);
      const renewed = JSON.parse(answers.body(later, rows, null).toString("utf8")) as { notAfter: string };
      expect(renewed.notAfter).to.equal(new Date(1_950_000_000_000).toISOString());
    });

    it("a list that shrinks or grows in place is not mistaken for the cached one", function () {
      const answers = new MeAnswers();
      const r1 = row("PEM-1");
      const r2 = row("PEM-2");
      const list = [r1, r2];
      answers.body(caller("alice", "01"), list, null);
      list.pop();
      const one = JSON.parse(answers.body(caller("alice", "01"), list, null).toString("utf8")) as {
        certificates: string[];
      };
      expect(one.certificates).to.deep.equal(["PEM-1"]);
    });
  });
});
