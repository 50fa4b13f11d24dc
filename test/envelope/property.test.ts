/**
 * Random damage never yields other plaintext and never an untyped exception. A flip may land in a field nobody
 * authenticates and that does not matter for this recipient (another recipient's wrapped key, say): then the
 * original plaintext comes back, which is fine. Anything else must be a CertvaultError.
 */
import { expect } from "chai";
import fc from "fast-check";
import { CertvaultError } from "../../src/errors/index.js";
import { inspect, open, recipientsOf, seal } from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes } from "./fixtures.js";

const PT = bytes("property-tested plaintext, long enough to span a few AES blocks");

describe("envelope: random flips and truncations", function () {
  let fx: Fixtures;
  let recipients: Identity[];
  let env: Uint8Array;

  before(async function () {
    fx = await Fixtures.create();
    const { p256, p384, rsa } = await fx.standard();
    recipients = [p256, p384, rsa];
    env = seal(
      PT,
      recipients.map((r) => r.certPem),
    );
  });
  after(async () => fx.cleanup());

  /** Every reader of the envelope either refuses with a CertvaultError or, for open, returns exactly PT. */
  function check(damaged: Uint8Array): void {
    for (const read of [() => inspect(damaged), () => recipientsOf(damaged)]) {
      try {
        read();
      } catch (err) {
        if (!(err instanceof CertvaultError)) throw err;
      }
    }
    for (const who of recipients) {
      let out: Uint8Array;
      try {
        out = open(damaged, who.key, who.certPem);
      } catch (err) {
        if (err instanceof CertvaultError) continue;
        throw err;
      }
      expect(Buffer.from(out).equals(Buffer.from(PT)), `${who.name} got other plaintext`).to.equal(true);
    }
  }

  it("flipping any bits of any byte", function () {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (pos, mask) => {
        const damaged = env.slice();
        const at = pos % env.length;
        damaged[at] = (damaged[at] as number) ^ mask;
        check(damaged);
      }),
      { numRuns: 200 },
    );
  });

  it("truncating to any length, or inserting a byte anywhere", function () {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (pos, byte, truncate) => {
        const at = pos % env.length;
        check(truncate ? env.slice(0, at) : Uint8Array.from([...env.subarray(0, at), byte, ...env.subarray(at)]));
      }),
      { numRuns: 200 },
    );
  });

  it("flipping bytes inside the ciphertext and tag always fails decryption", function () {
    const tail = PT.length + 16 + 2; // ciphertext, then 04 10 + tag
    fc.assert(
      fc.property(fc.integer({ min: 0, max: tail - 1 }), fc.integer({ min: 1, max: 255 }), (back, mask) => {
        const damaged = env.slice();
        const at = env.length - 1 - back;
        damaged[at] = (damaged[at] as number) ^ mask;
        for (const who of recipients) expect(() => open(damaged, who.key, who.certPem)).to.throw(CertvaultError);
      }),
      { numRuns: 200 },
    );
  });
});
