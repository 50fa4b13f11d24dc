/**
 * The enrollment listener is held to the API listener's rules for bytes and headers (issue 19): HSTS on every answer,
 * and bytes that are not HTTP get a JSON error with a stable code, never a bare close or a stack.
 */
import { expect } from "chai";
import { connect } from "node:tls";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";

describe("enrollment listener: HSTS and malformed bytes", function () {
  this.timeout(60_000);
  let ca: TestCA;
  let server: TestServer;

  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({ ca, config: { enrollPort: 0 } });
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  /** Writes raw bytes over server-auth TLS and returns everything the server sent until it closed. */
  function raw(bytes: string): Promise<string> {
    const url = new URL(server.enrollUrl as string);
    return new Promise((resolve, reject) => {
      const socket = connect(
        { host: url.hostname, port: Number(url.port), ca: ca.rootPem, servername: "localhost" },
        () => socket.write(bytes),
      );
      let got = "";
      socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
      socket.on("close", () => resolve(got));
      socket.on("error", reject);
    });
  }

  it("a refused enrollment request (bad token, bad CSR: 400 or 401) carries HSTS", async function () {
    const body = JSON.stringify({ token: "cvt1.x.y.z", csr: "x" });
    const answer = await raw(
      `POST /v1/enroll HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answer).to.match(/^HTTP\/1\.1 (400|401) /);
    expect(answer.toLowerCase()).to.include("strict-transport-security: max-age=31536000");
  });

  it("bytes that are not HTTP get a JSON 400 malformed_request with HSTS, no stack", async function () {
    const answer = await raw("\x00\x01 not http at all\r\n\r\n");
    expect(answer).to.match(/^HTTP\/1\.1 400 /);
    expect(answer).to.include('"code":"malformed_request"');
    expect(answer.toLowerCase()).to.include("strict-transport-security");
    expect(answer).to.not.match(/ at |\.ts:|Error:/);
  });
});
