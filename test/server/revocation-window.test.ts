/**
 * Revocation with no window (issue 16): an upload authorised before a revocation writes nothing after it; a stored
 * "revoked" is honoured even when the in-memory revoked set missed it; a server whose first registry poll fails
 * admits nobody (503 not_ready) until it has loaded the revoked set and the CRL, and then refuses the revoked.
 */
import { expect } from "chai";
import { connect } from "node:tls";
import type { TLSSocket } from "node:tls";
import knexFactory from "knex";
import { x509 } from "../../src/x509/x509.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { createScratchDatabase } from "../../src/testing/scratch-db.js";
import type { ScratchDatabase } from "../../src/testing/scratch-db.js";
import { eventually } from "../helpers/eventually.js";
import { requireJudge } from "../helpers/judges.js";
import { rowsIn } from "../helpers/db.js";

const PG = process.env.CERTVAULT_TEST_DB ?? process.env.CERTVAULT_TEST_PG;

interface Answer {
  status: number;
  code: string | undefined;
}

/** An HTTP/1.1 exchange over our own TLS socket, so that a test decides when each byte of the body leaves. */
class RawClient {
  private readonly chunks: Buffer[] = [];
  private readonly ended: Promise<void>;
  private error: Error | undefined;
  private constructor(private readonly socket: TLSSocket) {
    socket.on("data", (c: Buffer) => this.chunks.push(c));
    // TLS 1.3: a client certificate refused by the server shows up as an alert after the client's handshake is done.
    socket.on("error", (err) => (this.error = err));
    this.ended = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  static open(server: TestServer, ca: TestCA, who: TestIdentity): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(
        {
          host: "127.0.0.1",
          port: server.port,
          ca: ca.rootPem,
          cert: who.certPem,
          key: who.keyPem,
          servername: "localhost",
        },
        () => resolve(new RawClient(socket)),
      );
      socket.once("error", reject);
    });
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The answer once the server closed the connection (a revoked certificate's connection is closed after it). */
  async answer(): Promise<Answer> {
    const { status, body } = await this.raw();
    const code = /"code":"([a-z_]+)"/.exec(body.toString("latin1"))?.[1];
    return status === 0 ? { status, code: this.error?.message ?? "closed without an answer" } : { status, code };
  }

  async raw(): Promise<{ status: number; body: Buffer }> {
    await this.ended;
    const all = Buffer.concat(this.chunks);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all.toString("latin1"))?.[1] ?? 0);
    return { status, body: all.subarray(all.indexOf("\r\n\r\n") + 4) };
  }
}

const recordsOf = (ca: TestCA, owner: string): Promise<number> => rowsIn(ca.db, "records", { owner });

/** Headers and half of a 2,000-byte plaintext upload; the other half is sent by the test later. */
async function startSlowUpload(
  server: TestServer,
  ca: TestCA,
  who: TestIdentity,
): Promise<{ client: RawClient; rest: Buffer }> {
  const body = Buffer.alloc(2000, 0x61);
  const client = await RawClient.open(server, ca, who);
  client.write(
    `POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
  );
  client.write(body.subarray(0, 1000));
  // Authorised: the route has recorded the write's attempt, and now waits for the rest of the body.
  await eventually(
    async () =>
      (await ca.db("audit_entries").where({ serial: who.serial, action: "records.create", status: 0 }).first("seq")) !==
      undefined,
    { what: "the upload's audited attempt" },
  );
  return { client, rest: body.subarray(1000) };
}

describe("server: a slow upload started before a revocation writes nothing after it", function () {
  this.timeout(30_000);
  let ca: TestCA;
  let server: TestServer;
  before(async function () {
    ca = await createTestCA();
  });
  afterEach(async function () {
    await server.stop();
  });
  after(async function () {
    await ca.cleanup();
  });

  it("the revocation is observed by the server, then the rest of the body arrives: 403 certificate_revoked, no record", async function () {
    server = await startTestServer({ ca });
    const eve = await ca.issueClient("eve");
    await ca.issueClient("eve"); // eve's other device: a plaintext upload has an active certificate to be sealed to
    const alice = await ca.issueClient("alice");
    const crlLists = async (serial: string): Promise<boolean> => {
      const c = await RawClient.open(server, ca, alice);
      c.write("GET /v1/crl HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
      const { status, body } = await c.raw();
      return (
        status === 200 &&
        new x509.X509Crl(new Uint8Array(body)).entries.some((e) => e.serialNumber.toLowerCase() === serial)
      );
    };
    const { client, rest } = await startSlowUpload(server, ca, eve);
    await ca.revoke(eve.serial, "keyCompromise");
    // Observed: the server's CRL (reissued in the same poll that loads the revoked set) lists the serial.
    await eventually(() => crlLists(eve.serial), { what: "the server's CRL to list eve" });
    client.write(rest);
    expect(await client.answer()).to.deep.equal({ status: 403, code: "certificate_revoked" });
    expect(await recordsOf(ca, "eve")).to.equal(0);
  });

  it("also before this node has polled: the stored status is read again after the body", async function () {
    server = await startTestServer({ ca, config: { revocationPollMs: 60_000 } });
    const mallory = await ca.issueClient("mallory");
    await ca.issueClient("mallory"); // another device, still active
    const { client, rest } = await startSlowUpload(server, ca, mallory);
    // Revoked in the registry without a revision bump: no poll or notification tells this node.
    await ca
      .db("certificates")
      .where({ serial: mallory.serial })
      .update({ status: "revoked", revoked_at: Date.now(), revocation_reason: "keyCompromise" });
    client.write(rest);
    expect(await client.answer()).to.deep.equal({ status: 403, code: "certificate_revoked" });
    expect(await recordsOf(ca, "mallory")).to.equal(0);
  });

  it("a stored 'revoked' refuses a new connection that the in-memory revoked set missed", async function () {
    // Issued before the server starts: on PostgreSQL an issue sends NOTIFY, and a poll it triggers after the update
    // below would load the revoked set (the handshake then refuses, which this test is not about).
    const trudy = await ca.issueClient("trudy");
    server = await startTestServer({ ca, config: { revocationPollMs: 60_000 } });
    await ca
      .db("certificates")
      .where({ serial: trudy.serial })
      .update({ status: "revoked", revoked_at: Date.now(), revocation_reason: "keyCompromise" });
    const client = await RawClient.open(server, ca, trudy);
    client.write("GET /v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    expect(await client.answer()).to.deep.equal({ status: 403, code: "certificate_revoked" });
  });
});

describe("server: the first registry poll fails at start (PostgreSQL)", function () {
  this.timeout(60_000);
  let scratch: ScratchDatabase | undefined;
  let ca: TestCA | undefined;
  before(function () {
    requireJudge(this, "postgres");
  });
  after(async function () {
    await ca?.cleanup();
    await scratch?.drop();
  });

  it("admits nobody (503 not_ready) until the revoked set and the CRL are loaded; then the revoked certificate is refused", async function () {
    scratch = await createScratchDatabase(PG as string);
    ca = await createTestCA({ db: scratch.url });
    const eve = await ca.issueClient("eve");
    const alice = await ca.issueClient("alice");
    await ca.revoke(eve.serial, "keyCompromise");
    // A first start makes the server's own TLS certificate (a registry write), as an earlier run would have.
    await (await startTestServer({ ca })).stop();
    // The fault: another session holds the registry's counters table locked, and the server's statements give up
    // waiting for a lock after 200 ms. Every poll fails at its first query; certificates themselves stay readable.
    const dbName = new URL(scratch.url).pathname.slice(1);
    await ca.db.raw(`ALTER DATABASE "${dbName}" SET lock_timeout = '200ms'`);
    const locker = knexFactory({ client: "pg", connection: scratch.url, pool: { min: 0, max: 1 } });
    const trx = await locker.transaction();
    await trx.raw("LOCK TABLE ca_meta IN ACCESS EXCLUSIVE MODE");
    let server: TestServer | undefined;
    try {
      server = await startTestServer({ ca, config: { revocationPollMs: 50 } });
      const once = async (who: TestIdentity): Promise<Answer> => {
        const c = await RawClient.open(server as TestServer, ca as TestCA, who);
        c.write("GET /v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        return c.answer();
      };
      // Several polls have failed meanwhile (each gives up after 200 ms): still nobody is admitted.
      for (let i = 0; i < 3; i++) {
        expect(await once(eve)).to.deep.equal({ status: 503, code: "not_ready" });
        expect(await once(alice)).to.deep.equal({ status: 503, code: "not_ready" });
      }
      await trx.rollback();
      await eventually(async () => (await once(alice)).status === 200, { what: "the server to become ready" });
      // Loaded: eve is refused in the handshake (the CRL is in the TLS context) or with 403.
      const refused = await once(eve).catch((err: Error) => ({ status: 0, code: err.message }));
      if (refused.status === 0) expect(refused.code).to.match(/revoked|alert|ECONNRESET|socket|closed/i);
      else expect(refused).to.deep.equal({ status: 403, code: "certificate_revoked" });
    } finally {
      if (!trx.isCompleted()) await trx.rollback();
      await locker.destroy();
      await server?.stop();
    }
  });
});
