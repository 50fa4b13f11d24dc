/**
 * Key rotation: an identity with 1,000 records moves them to a new certificate on the client, without re-encrypting
 * content (only recipient infos change); an interrupted rotation is finished by running it again, with no record lost
 * or wrapped twice; afterwards the new key opens every record (openssl agrees) and the old one none.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { open, inspect, verifyRecordSignature } from "../../src/envelope/index.js";
import { parseEnvelope } from "../../src/envelope/frame.js";
import { resolveLimits } from "../../src/envelope/options.js";
import type { RotationProgress } from "../../src/client-sdk/index.js";
import { openssl, opensslReadRecord } from "../helpers/openssl.js";
import { thresholdsFrom } from "../../src/anomaly/rules.js";

const COUNT = 1000;

describe("client SDK: key rotation", function () {
  this.timeout(180_000);
  let ca: TestCA;
  let server: TestServer;
  let oldId: TestIdentity;
  let newId: TestIdentity;
  const contentBefore = new Map<string, Buffer>();

  const envelopes = async (): Promise<{ id: string; envelope: Uint8Array }[]> =>
    (
      (await ca.db("records").where({ owner: "alice" }).select("id", "envelope")) as { id: string; envelope: Buffer }[]
    ).map((r) => ({ id: r.id, envelope: new Uint8Array(r.envelope) }));
  const content = (env: Uint8Array): Buffer =>
    Buffer.from(parseEnvelope(env, resolveLimits(undefined)).encryptedContent);

  before(async function () {
    ca = await createTestCA();
    // A rotation reads every record, which is what a bulk export looks like: this deployment allows it (see
    // docs/operations.md, "A legitimate bulk export").
    server = await startTestServer({
      ca,
      config: {
        rateLimits: { identity: { points: 0, seconds: 1 }, source: { points: 0, seconds: 1 } },
        anomaly: thresholdsFrom({ distinctRecords: 5000, listPages: 1000, dayRecordsMin: 5000 }),
      },
    });
    oldId = await ca.issueClient("alice");
    const client = server.client(oldId);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < COUNT) {
          const i = next++;
          await client.put(new TextEncoder().encode(`record ${i}`));
        }
      }),
    );
    newId = await ca.issueClient("alice"); // the new key and certificate, same identity
    for (const { id, envelope } of await envelopes()) contentBefore.set(id, content(envelope));
    expect(contentBefore.size).to.equal(COUNT);
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("an interrupted rotation, run again, re-wraps every record exactly once and touches no content byte", async function () {
    const client = server.client(oldId, { retries: 0 });
    let failed: unknown;
    await client
      .rotateTo(newId.certPem, {
        dropOld: true,
        onProgress: (p) => {
          if (p.rewrapped === 400) throw new Error("killed half-way");
        },
      })
      .catch((err: unknown) => (failed = err));
    expect((failed as Error | undefined)?.message).to.equal("killed half-way");

    let last: RotationProgress | undefined;
    const second = await client.rotateTo(newId.certPem, { dropOld: true, onProgress: (p) => (last = p) });
    expect(second).to.deep.equal(last);
    expect(second.skipped, "records done by the first run").to.equal(400);
    expect(second.rewrapped).to.equal(COUNT - 400);
    expect(second.notOpenable).to.equal(0);

    const after = await envelopes();
    expect(after).to.have.length(COUNT);
    for (const { id, envelope } of after) {
      expect(Buffer.compare(content(envelope), contentBefore.get(id) as Buffer), `content of ${id} changed`).to.equal(
        0,
      );
      expect(inspect(envelope).recipients.total, `${id} has one recipient`).to.equal(1);
      const signed = verifyRecordSignature(open(envelope, newId.key, newId.certPem));
      expect(new TextDecoder().decode(signed.content)).to.match(/^record \d+$/);
      expect(signed.binding, "the signature still binds the record to its id").to.deep.equal({ owner: "alice", id });
      expect(() => open(envelope, oldId.key, oldId.certPem)).to.throw();
    }
  });

  it("openssl opens rotated records with the new key and not with the old one", async function () {
    const [sample] = await envelopes();
    const dir = ca.home;
    const env = join(dir, "rotated.der");
    writeFileSync(env, (sample as { envelope: Uint8Array }).envelope);
    const withNew = await opensslReadRecord({
      envelopeFile: env,
      keyPath: newId.keyPath,
      certPath: newId.certPath,
      rootPath: ca.paths.rootCert,
    });
    expect(withNew.code, withNew.stderr).to.equal(0);
    expect(withNew.stdout).to.match(/^record \d+$/);
    const withOld = await openssl([
      "cms",
      "-decrypt",
      "-binary",
      "-inform",
      "DER",
      "-in",
      env,
      "-inkey",
      oldId.keyPath,
      "-recip",
      oldId.certPath,
    ]);
    expect(withOld.code).to.not.equal(0);
  });

  it("finally the old certificate revokes itself, and only itself", async function () {
    const other = await ca.issueClient("alice");
    const oldClient = server.client(oldId, { retries: 0 });
    const { ServerError } = await import("../../src/client-sdk/index.js");
    // A certificate cannot revoke another one, not even of its own identity (a stolen key could lock the owner out).
    const { request, Agent } = await import("node:https");
    const agent = new Agent({ ca: ca.rootPem, cert: oldId.certPem, key: oldId.keyPem });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${server.url}/v1/certificates/${other.serial}`,
        { method: "DELETE", agent },
        (res) => (res.resume(), res.on("end", () => resolve(res.statusCode ?? 0))),
      );
      req.on("error", reject);
      req.end();
    });
    agent.destroy();
    expect(status).to.equal(404);
    await oldClient.revokeSelf();
    const row = (await ca.db("certificates").where({ serial: oldId.serial }).first("status", "revocation_reason")) as {
      status: string;
      revocation_reason: string;
    };
    expect(row).to.deep.equal({ status: "revoked", revocation_reason: "superseded" });
    expect(
      (await ca.db("certificates").where({ serial: other.serial }).first("status")) as { status: string },
    ).to.deep.equal({ status: "active" });
    await server.syncRegistry();
    const after = await server
      .client(oldId, { retries: 0 })
      .me()
      .then(
        () => "served",
        (e: unknown) => (e instanceof ServerError ? e.code : "refused"),
      );
    expect(after).to.not.equal("served");
  });

  it("refuses a new certificate that does not chain to the pinned root", async function () {
    const foreign = await ca.foreign();
    try {
      const stranger = await foreign.issueClient("alice");
      let refused: unknown;
      await server
        .client(newId)
        .rotateTo(stranger.certPem)
        .catch((err: unknown) => (refused = err));
      expect((refused as { code?: string } | undefined)?.code).to.equal("untrusted_certificate");
    } finally {
      await foreign.cleanup();
    }
  });
});
