/**
 * Issue 21: the SDK rebuilds a server's error answer into the class of its code, the class the server threw
 * (errors/registry.ts, client-sdk/server-errors.ts), and `instanceof ServerError` keeps holding for every answer. A
 * server that lies cannot dress its answer up as one of the SDK's own trust refusals: a code of scope `client`, or a
 * known code with another status than the registry's, stays a plain ServerError.
 */
import { expect } from "chai";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { ServerError, UntrustedRecordError } from "../../src/client-sdk/index.js";
import { DatabaseUnavailableError, NotFoundError, PayloadTooLargeError } from "../../src/errors/index.js";
import { answerJson, errorOf, hijack } from "../helpers/hostile.js";
import type { Hijack } from "../helpers/hostile.js";

describe("SDK: a server's error code becomes the same class (issue 21)", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;
  let alice: TestIdentity;
  let h: Hijack | undefined;
  const missing = "0123456789abcdef0123456789abcdef";

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
  });
  afterEach(function () {
    h?.restore();
    h = undefined;
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  const client = (): ReturnType<TestServer["client"]> => server.client(alice, { retries: 0 });
  const lie = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
    h = hijack(server, (req, res) => {
      if (!req.url?.startsWith(`/v1/records/${missing}`)) return false;
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      return answerJson(res, body, status);
    });
  };

  it("the genuine server's 404 not_found is a NotFoundError, and still a ServerError with the status", async function () {
    const err = await errorOf(client().delete(missing));
    expect(err).to.be.instanceOf(NotFoundError);
    expect(err).to.be.instanceOf(ServerError);
    expect(err).to.include({ code: "not_found", status: 404, serverCode: "not_found" });
  });

  it("a 503 database_unavailable is a DatabaseUnavailableError with the server's Retry-After", async function () {
    lie(
      503,
      { error: { code: "database_unavailable", message: "the database is unavailable; retry later" } },
      {
        "retry-after": "7",
      },
    );
    const err = await errorOf(client().delete(missing));
    expect(err).to.be.instanceOf(DatabaseUnavailableError).and.instanceOf(ServerError);
    expect(err).to.include({ code: "database_unavailable", status: 503, retryAfterSeconds: 7 });
  });

  it("a server claiming one of the SDK's own refusals (untrusted_record) stays a plain ServerError", async function () {
    lie(502, { error: { code: "untrusted_record", message: "trust me" } });
    const err = await errorOf(client().delete(missing));
    expect(err).to.be.instanceOf(ServerError);
    expect(err).to.not.be.instanceOf(UntrustedRecordError);
    expect(err).to.include({ code: "server_error", status: 502, serverCode: "untrusted_record" });
  });

  it("a known code with another status than the registry's is not rebuilt either", async function () {
    lie(500, { error: { code: "payload_too_large", message: "?" } });
    const err = await errorOf(client().delete(missing));
    expect(err).to.be.instanceOf(ServerError).and.not.instanceOf(PayloadTooLargeError);
    expect(err).to.include({ code: "server_error", status: 500, serverCode: "payload_too_large" });
  });

  it("an answer that is not JSON is a ServerError server_error with the HTTP status", async function () {
    h = hijack(server, (req, res) => {
      if (!req.url?.startsWith(`/v1/records/${missing}`)) return false;
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
      return true;
    });
    const err = await errorOf(client().delete(missing));
    expect(err).to.be.instanceOf(ServerError);
    expect(err).to.include({ code: "server_error", status: 502 });
  });

  it("the SDK's own refusals are not ServerErrors", function () {
    expect(new UntrustedRecordError("x")).to.not.be.instanceOf(ServerError);
  });
});
