/**
 * A long-running signer (the server's) survives losing its token session: all sessions of the token are closed
 * under it (C_CloseAllSessions, as after an HSM restart or a network HSM's failover), and the next CRL is still
 * signed, after the token was opened and logged in again. In-process: the token is a process token (makeProcessToken),
 * the one SOFTHSM2_CONF this process's module reads, shared with the CA suites' tokens.
 */
import { expect } from "chai";
import * as graphene from "graphene-pk11";
import { initCa } from "../../src/ca/ca-init.js";
import { caPaths } from "../../src/ca/ca-files.js";
import { buildCrl } from "../../src/ca/crl.js";
import { loadCaSigner } from "../../src/ca/pkcs11-record.js";
import type { Signer } from "../../src/ca/sign.js";
import { TempDirs } from "../helpers/cli.js";
import { makeProcessToken, softHsmOrSkip } from "./softhsm.js";
import type { TokenRef } from "./softhsm.js";

describe("PKCS#11 signer: a lost session is reopened (SoftHSM2)", function () {
  this.timeout(60_000);
  const tmp = new TempDirs();
  let token: TokenRef;
  let signer: Signer | undefined;

  before(async function () {
    token = await makeProcessToken(softHsmOrSkip(this), "cv-recovery");
  });
  after(async () => {
    await signer?.close?.();
    tmp.cleanup();
  });

  it("signs a CRL, loses every session of the token, and signs the next CRL after logging in again", async () => {
    const paths = caPaths(tmp.make());
    await initCa(paths, {
      name: "Recovery",
      keyType: "ec-p256",
      passphrase: "a long passphrase",
      pkcs11: { module: token.module, token: token.label, pin: token.pin },
    });
    signer = await loadCaSigner(paths, {
      passphrase: () => Promise.reject(new Error("no passphrase needed")),
      pkcs11: { pinEnv: token.pin },
    });
    const s = signer;
    const crlNow = async (n: number): Promise<boolean> =>
      (await buildCrl({ signer: s, revoked: [], crlNumber: n, now: new Date(), days: 1 })).verify({
        publicKey: s.certificate.publicKey,
      });

    expect(await crlNow(1)).to.equal(true);

    // Close every session of the token from outside the signer (same module, same process).
    const mod = graphene.Module.load(token.module, "test");
    try {
      mod.initialize();
    } catch (err) {
      if ((err as { code?: number }).code !== 0x191) throw err; // CKR_CRYPTOKI_ALREADY_INITIALIZED
    }
    const slots = mod.getSlots(true);
    let closed = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      if (slot.getToken().label.trim() === token.label) {
        slot.closeAll();
        closed++;
      }
    }
    expect(closed).to.equal(1);

    expect(await crlNow(2)).to.equal(true);
    expect(await crlNow(3)).to.equal(true);
  });
});
