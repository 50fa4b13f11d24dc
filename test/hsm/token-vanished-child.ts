/**
 * Child process of token-vanished.test.ts (SoftHSM2 reads SOFTHSM2_CONF once per process, so a token whose storage
 * is removed needs a process of its own). It makes a CA in the token named by CV_TOKEN (SOFTHSM2_CONF,
 * CV_PKCS11_MODULE, CV_PKCS11_PIN), signs a CRL, removes CV_TOKEN_STORAGE (the token's directory: a disk that
 * failed, an operator's mistake), signs again, and prints what each attempt gave as one JSON line.
 */
import { rmSync } from "node:fs";
import { initCa } from "../../src/ca/ca-init.js";
import { caPaths } from "../../src/ca/ca-files.js";
import { buildCrl } from "../../src/ca/crl.js";
import { loadCaSigner } from "../../src/ca/pkcs11-record.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const paths = caPaths(env("CV_CA_DIR"));
const pin = env("CV_PKCS11_PIN");
await initCa(paths, {
  name: "Vanishing",
  keyType: "ec-p256",
  passphrase: "a long passphrase",
  pkcs11: { module: env("CV_PKCS11_MODULE"), token: env("CV_TOKEN"), pin },
});
const signer = await loadCaSigner(paths, {
  passphrase: () => Promise.reject(new Error("no passphrase needed")),
  pkcs11: { pinEnv: pin },
});
const attempt = async (n: number): Promise<unknown> => {
  try {
    const crl = await buildCrl({ signer, revoked: [], crlNumber: n, now: new Date(), days: 1 });
    return { verified: await crl.verify({ publicKey: signer.certificate.publicKey }) };
  } catch (err) {
    const e = err as Error & { code?: unknown };
    return { error: e.constructor.name, code: e.code, message: e.message };
  }
};
const before = await attempt(1);
rmSync(env("CV_TOKEN_STORAGE"), { recursive: true, force: true });
const after = await attempt(2);
await signer.close?.();
process.stdout.write(JSON.stringify({ before, after }) + "\n");
