/**
 * Issuance that cannot be turned into a flood (issue 16): the renewal loop (issue, self-revoke, repeat) is stopped by
 * its budget with 429 and a stable code; self-revocations have a budget of their own; concurrent requests never get
 * past the caps on active and pending certificates; the CRL drops a certificate one CRL lifetime after it expired,
 * and is built without reading PEMs.
 */
import { expect } from "chai";
import { Agent, request } from "node:https";
import { webcrypto } from "node:crypto";
import { x509, nodeCrypto } from "../../src/x509/x509.js";
import { generateKeyPair } from "../../src/keys/key-types.js";
import { toPem } from "../../src/x509/pem.js";
import { CertificateAuthority } from "../../src/ca/authority.js";
import { CertificateRepository } from "../../src/store/certificates.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { rowsIn } from "../helpers/db.js";

interface Cred {
  certPem: string;
  keyPem: string;
  serial: string;
}
interface Answer {
  status: number;
  code: string | undefined;
  retryAfter: string | undefined;
  body: { serial?: string; certificate?: string };
}

function call(server: TestServer, ca: TestCA, who: Cred, method: string, path: string, body?: string): Promise<Answer> {
  const agent = new Agent({ keepAlive: false, ca: ca.rootPem, cert: who.certPem, key: who.keyPem });
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      { method, agent, headers: body ? { "content-type": "application/pkcs10" } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          const json = (text.startsWith("{") ? JSON.parse(text) : {}) as { error?: { code: string } } & Answer["body"];
          resolve({
            status: res.statusCode ?? 0,
            code: json.error?.code,
            retryAfter: res.headers["retry-after"] as string | undefined,
            body: json,
          });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  }).finally(() => agent.destroy());
}

/** A new key and a CSR for it (CN = name), the key kept as PEM for the next round. */
async function newKey(name: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateKeyPair("ec-p256");
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: [{ CN: [name] }], keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } },
    nodeCrypto,
  );
  const keyPem = toPem(new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY");
  return { csrPem: csr.toString("pem") + "\n", keyPem };
}

async function renew(
  server: TestServer,
  ca: TestCA,
  who: Cred,
  name: string,
): Promise<{ answer: Answer; cred?: Cred }> {
  const k = await newKey(name);
  const answer = await call(server, ca, who, "POST", "/v1/certificates", k.csrPem);
  if (answer.status !== 201) return { answer };
  return {
    answer,
    cred: { certPem: answer.body.certificate as string, keyPem: k.keyPem, serial: answer.body.serial as string },
  };
}

const revokeSelf = (server: TestServer, ca: TestCA, who: Cred): Promise<Answer> =>
  call(server, ca, who, "DELETE", `/v1/certificates/${who.serial}`);
const activeOf = (ca: TestCA, identity: string): Promise<number> =>
  rowsIn(ca.db, "certificates", { identity, status: "active" });

describe("issuance budgets: renewals and self-revocations per identity", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  // Set when the tests start, not when the file loads: in a full run that can be minutes earlier, and certificates
  // issued now would not be valid yet by the server's clock.
  let clock = 0;
  before(async function () {
    ca = await createTestCA();
    clock = Date.now();
  });
  afterEach(async function () {
    await server.stop();
  });
  after(async function () {
    await ca.cleanup();
  });

  it("the renewal loop (issue, self-revoke, repeat) stops at the default budget with 429 renewal_limited; a day later it may go on", async function () {
    server = await startTestServer({ ca, config: { renewal: "auto" }, now: () => new Date(clock) });
    let current: Cred = await ca.issueClient("alice");
    for (let round = 1; round <= 4; round++) {
      const { answer, cred } = await renew(server, ca, current, "alice");
      expect(answer.status, `renewal ${round}: ${answer.code}`).to.equal(201);
      expect((await revokeSelf(server, ca, current)).status).to.equal(204);
      current = cred as Cred;
    }
    const stopped = await renew(server, ca, current, "alice");
    expect(stopped.answer).to.include({ status: 429, code: "renewal_limited" });
    expect(Number(stopped.answer.retryAfter)).to.be.within(1, 86_400);
    expect(await activeOf(ca, "alice")).to.equal(1); // nothing issued by the refused request
    clock += 86_400_000 + 1000;
    expect((await renew(server, ca, current, "alice")).answer.status).to.equal(201);
  });

  it("self-revocations have a budget of their own: over it, 429 self_revocation_limited and the certificate stays active", async function () {
    server = await startTestServer({
      ca,
      config: {
        renewal: "auto",
        issuanceLimits: { renewal: { points: 100, seconds: 86_400 }, selfRevocation: { points: 2, seconds: 86_400 } },
      },
    });
    const bobs = [await ca.issueClient("bob"), await ca.issueClient("bob"), await ca.issueClient("bob")];
    expect((await revokeSelf(server, ca, bobs[0] as Cred)).status).to.equal(204);
    expect((await revokeSelf(server, ca, bobs[1] as Cred)).status).to.equal(204);
    const third = await revokeSelf(server, ca, bobs[2] as Cred);
    expect(third).to.include({ status: 429, code: "self_revocation_limited" });
    expect(Number(third.retryAfter)).to.be.within(1, 86_400);
    expect(
      await ca
        .db("certificates")
        .where({ serial: (bobs[2] as Cred).serial })
        .first("status"),
    ).to.deep.equal({ status: "active" });
  });

  it("concurrent renewals never exceed the cap of 3 active certificates (auto)", async function () {
    server = await startTestServer({
      ca,
      config: {
        renewal: "auto",
        issuanceLimits: { renewal: { points: 100, seconds: 86_400 }, selfRevocation: { points: 100, seconds: 86_400 } },
      },
    });
    const carol = await ca.issueClient("carol");
    const answers = await Promise.all(Array.from({ length: 8 }, () => renew(server, ca, carol, "carol")));
    const statuses = answers.map((a) => a.answer.status).sort();
    expect(statuses).to.deep.equal([201, 201, 409, 409, 409, 409, 409, 409]);
    expect(await activeOf(ca, "carol")).to.equal(3);
  });

  it("concurrent requests under manual approval leave exactly one pending", async function () {
    server = await startTestServer({
      ca,
      config: {
        issuanceLimits: { renewal: { points: 100, seconds: 86_400 }, selfRevocation: { points: 100, seconds: 86_400 } },
      },
    });
    const dave = await ca.issueClient("dave");
    const answers = await Promise.all(Array.from({ length: 8 }, () => renew(server, ca, dave, "dave")));
    expect(answers.map((a) => a.answer.status).sort()).to.deep.equal([202, 409, 409, 409, 409, 409, 409, 409]);
    expect(
      await ca.db("certificate_requests").where({ identity: "dave", status: "pending" }).pluck("id"),
    ).to.have.length(1);
  });
});

describe("the CRL: expired certificates leave it, and it is built from three columns", function () {
  this.timeout(60_000);
  let ca: TestCA;
  before(async function () {
    ca = await createTestCA();
  });
  after(async function () {
    await ca.cleanup();
  });

  it("lists a revoked certificate until one CRL lifetime (7 days) after its notAfter, then no more (injected clock)", async function () {
    const eve = await ca.issueClient("eve", { days: 1 });
    const bob = await ca.issueClient("bob");
    await ca.revoke(eve.serial, "keyCompromise");
    await ca.revoke(bob.serial, "keyCompromise");
    const notAfter = new x509.X509Certificate(eve.certPem).notAfter.getTime();
    const listed = async (at: number): Promise<string[]> => {
      const authority = new CertificateAuthority({
        paths: ca.paths,
        registry: new CertificateRepository(ca.db),
        signer: () => ca.signer(),
        now: () => new Date(at),
      });
      return (await authority.crl({ days: 7 })).entries.map((e) => e.serialNumber.toLowerCase());
    };
    expect(await listed(Date.now())).to.include.members([eve.serial, bob.serial]);
    expect(await listed(notAfter + 86_400_000)).to.include.members([eve.serial, bob.serial]); // expired, on the next CRLs still
    const later = await listed(notAfter + 8 * 86_400_000);
    expect(later).to.include(bob.serial);
    expect(later).to.not.include(eve.serial);
  });

  it("a server's CRL refresh reads serial, revocation time and reason, never a PEM", async function () {
    const server = await startTestServer({ ca });
    try {
      const reads: { sql: string; bindings: unknown[] }[] = [];
      server.running.db.on("query", (q: { sql: string; bindings?: unknown[] }) =>
        reads.push({ sql: q.sql, bindings: q.bindings ?? [] }),
      );
      const mallory = await ca.issueClient("mallory");
      await ca.revoke(mallory.serial, "keyCompromise");
      await server.syncRegistry(); // the refresh this test looks at: reads the revoked set, then issues a CRL
      const ofRevoked = reads.filter((r) => /from [`"]certificates[`"]/.test(r.sql) && r.bindings.includes("revoked"));
      expect(ofRevoked.length, "the refresh read revoked rows").to.be.greaterThan(0);
      for (const r of ofRevoked) expect(r.sql).to.not.match(/select \*|[`"]pem[`"]/);
    } finally {
      await server.stop();
    }
  });
});
