/**
 * The PROXY header has a deadline from connect, not an idle timeout (issue 16; found by an attacker's review): a
 * peer that trickles a v2 header one byte at a time is cut when the deadline passes, as a silent one is.
 */
import { expect } from "chai";
import { connect } from "node:net";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const DEADLINE_MS = 300;

describe("PROXY protocol: the header deadline holds against a trickling peer", function () {
  this.timeout(30_000);
  let ca: TestCA;
  let server: TestServer;
  before(async function () {
    ca = await createTestCA();
    server = await startTestServer({
      ca,
      config: { trustedProxies: ["127.0.0.2/32"], proxyHeaderTimeoutMs: DEADLINE_MS },
    });
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  it("a v2 header sent one byte every 100 ms is cut within a few deadlines, not after ~1,000 of them", async function () {
    const s = connect({ host: "127.0.0.1", port: server.port });
    s.on("error", () => undefined);
    await new Promise((r) => s.once("connect", r));
    const closed = new Promise<number>((r) => s.once("close", () => r(Date.now())));
    const started = Date.now();
    s.write(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x04, 0x00])])); // PROXY, TCP4, 1024-byte body
    let open = true;
    void closed.then(() => (open = false));
    // The attack's own pacing (not a wait for an effect): one byte per 100 ms, each of which restarted an idle timeout.
    while (open && Date.now() - started < 10 * DEADLINE_MS) {
      await new Promise((r) => setTimeout(r, 100));
      if (open) s.write(Buffer.from([0]));
    }
    const at = await Promise.race([
      closed,
      new Promise<number>((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), 5_000)),
    ]);
    s.destroy();
    expect(at - started, "still open while trickling").to.be.below(4 * DEADLINE_MS);
  });
});
