/** Rebuilding the recovery key: K shares of 3 give it back; K-1 (here 2 of a 3-threshold set) or a mixed set do not. */
import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import { split } from "shamir-secret-sharing";
import { createTestCA } from "../../src/testing/index.js";
import { rebuildRecoveryKey } from "../../src/recovery/recover.js";

describe("recovery: rebuilding the key from shares", function () {
  it("needs the threshold: 3 of 5 rebuild it; 2 of them, or shares of two sets mixed, are refused with recovery_failed", async function () {
    const ca = await createTestCA();
    try {
      const id = await ca.issueClient("stand-in"); // any certificate whose key we split
      const pkcs8 = new Uint8Array(id.key.export({ format: "der", type: "pkcs8" }));
      const shares = await split(pkcs8, 5, 3);
      const key = await rebuildRecoveryKey([shares[4], shares[0], shares[2]] as Uint8Array[], id.certPem);
      expect(key.export({ format: "der", type: "pkcs8" }).equals(Buffer.from(pkcs8))).to.equal(true);
      const tooFew = await rebuildRecoveryKey([shares[0], shares[1]] as Uint8Array[], id.certPem).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((tooFew as { code?: string }).code).to.equal("recovery_failed");
      const other = await split(
        new Uint8Array(
          generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "der", type: "pkcs8" }),
        ),
        5,
        3,
      );
      const mixed = await rebuildRecoveryKey([shares[0], shares[1], other[2]] as Uint8Array[], id.certPem).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((mixed as { code?: string }).code).to.equal("recovery_failed");
    } finally {
      await ca.cleanup();
    }
  });
});
