/** Certificate serials (ca/serial.ts): random, positive, at least 64 bits, unique; user spellings normalise to one form. */
import { expect } from "chai";
import fc from "fast-check";
import { normalizeSerial, randomSerial } from "../../src/ca/serial.js";
import { UsageError } from "../../src/errors/index.js";

describe("ca/serial", () => {
  it("randomSerial: any 16 random bytes give a positive 128-bit DER integer with no leading zero byte", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const serial = randomSerial(() => Uint8Array.from(bytes));
        expect(serial).to.match(/^[0-9a-f]{32}$/);
        const first = parseInt(serial.slice(0, 2), 16);
        expect(first).to.be.above(0).and.below(0x80);
        expect(BigInt(`0x${serial}`) >= 2n ** 64n).to.equal(true);
        // Only the first byte is touched; the other 15 are the random ones.
        expect(serial.slice(2)).to.equal(Buffer.from(bytes.subarray(1)).toString("hex"));
        expect(normalizeSerial(serial)).to.equal(serial);
      }),
      { numRuns: 1000 },
    );
  });

  it("randomSerial: 20,000 draws from the real generator are distinct and positive", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const s = randomSerial();
      expect(parseInt(s.slice(0, 2), 16)).to.be.within(0x01, 0x7f);
      seen.add(s);
    }
    expect(seen.size).to.equal(20_000);
  });

  it("normalizeSerial: openssl's upper case, colons, 0x and leading zero bytes all give the stored spelling", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 3 }), (bytes, zeros) => {
        const serial = randomSerial(() => Uint8Array.from(bytes));
        const upper = serial.toUpperCase();
        expect(normalizeSerial(upper)).to.equal(serial);
        expect(normalizeSerial(upper.match(/../g)?.join(":") ?? "")).to.equal(serial);
        expect(normalizeSerial(`0x${"00".repeat(zeros)}${serial}`)).to.equal(serial);
        expect(normalizeSerial(` ${serial}\n`)).to.equal(serial);
      }),
      { numRuns: 300 },
    );
  });

  it("normalizeSerial: pads odd lengths and refuses what is not hex", () => {
    expect(normalizeSerial("abc")).to.equal("0abc");
    expect(normalizeSerial("0000")).to.equal("00");
    for (const bad of ["", "xyz", "12-34", "g0", "1".repeat(81)])
      expect(() => normalizeSerial(bad), bad).to.throw(UsageError);
  });
});
