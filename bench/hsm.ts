/**
 * CA keys in files vs in a PKCS#11 token (SoftHSM2, a throwaway token), side by side in one run:
 * - certificates issued per second through CertificateAuthority.issueForKey (sign + SQLite registry insert), and
 *   signCertificate alone (no registry), file-backed intermediate = "bare" for the token's;
 * - raw ECDSA P-256 signatures per second: Node's WebCrypto (file key) as bare, against the token through
 *   node-webcrypto-p11 (what certvault uses) and through graphene-pk11 directly (SHA-256 in Node, then a synchronous
 *   C_Sign with CKM_ECDSA), which shows what the WebCrypto layer costs over the PKCS#11 call itself.
 * Run: node --import tsx bench/hsm.ts (needs SoftHSM2: apt-get install softhsm2; says so and returns without it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createHash, webcrypto } from "node:crypto";
import type * as graphene from "graphene-pk11";
import type { CryptoKey as P11CryptoKey } from "node-webcrypto-p11";
import { x509 } from "../src/x509/x509.js";
import { CertificateAuthority, cnName } from "../src/ca/authority.js";
import { initCa } from "../src/ca/ca-init.js";
import { caPaths, loadIntermediateSigner } from "../src/ca/ca-files.js";
import { loadCaSigner } from "../src/ca/pkcs11-record.js";
import { leafShape } from "../src/ca/profiles.js";
import { randomSerial } from "../src/ca/serial.js";
import { signCertificate } from "../src/ca/sign.js";
import type { Signer } from "../src/ca/sign.js";
import { openDatabase } from "../src/store/db.js";
import { CertificateRepository } from "../src/store/certificates.js";
import { findSoftHsm, makeSoftHsmToken } from "../test/hsm/softhsm.js";
import { median, table } from "./stats.js";

const RUNS = 5;
const RUN_MS = 400;
const PASSPHRASE = "bench passphrase, file-backed CA";

async function opsPerSecond(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < RUN_MS) {
    await fn();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

/** Alternating runs of each function, so drift affects both alike; medians. */
async function sideBySide(fns: (() => Promise<unknown> | unknown)[]): Promise<number[]> {
  const samples = fns.map(() => [] as number[]);
  for (let r = 0; r < RUNS; r++) {
    for (const [i, fn] of fns.entries()) (samples[i] as number[]).push(await opsPerSecond(fn));
  }
  return samples.map(median);
}

export async function benchHsm(): Promise<void> {
  console.log("\n== CA keys: files vs PKCS#11 token (SoftHSM2), ec-p256");
  const found = findSoftHsm();
  if ("missing" in found) {
    console.log(`skipped: ${found.missing}`);
    return;
  }
  const token = makeSoftHsmToken(found.module, "certvault-bench");
  // SoftHSM2 reads its configuration when the module is initialized: before the first token use in this process.
  process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
  const dir = mkdtempSync(join(tmpdir(), "certvault-bench-hsm-"));
  const fileHome = join(dir, "file");
  const hsmHome = join(dir, "hsm");
  const fileDb = await openDatabase(join(fileHome, "certvault.db"));
  const hsmDb = await openDatabase(join(hsmHome, "certvault.db"));
  let hsmSigner: Signer | undefined;
  try {
    await initCa(caPaths(fileHome), { name: "Bench Files", keyType: "ec-p256", passphrase: PASSPHRASE });
    await initCa(caPaths(hsmHome), {
      name: "Bench HSM",
      keyType: "ec-p256",
      passphrase: PASSPHRASE,
      pkcs11: { module: token.module, token: token.label, pin: token.pin },
    });
    const fileSigner = await loadIntermediateSigner(caPaths(fileHome), PASSPHRASE);
    hsmSigner = await loadCaSigner(caPaths(hsmHome), {
      passphrase: async () => PASSPHRASE,
      pkcs11: { pinEnv: token.pin },
    });
    const tokenSigner = hsmSigner;
    const fileCa = new CertificateAuthority({
      paths: caPaths(fileHome),
      registry: new CertificateRepository(fileDb),
      signer: async () => fileSigner,
    });
    const hsmCa = new CertificateAuthority({
      paths: caPaths(hsmHome),
      registry: new CertificateRepository(hsmDb),
      signer: async () => tokenSigner,
    });

    const subject = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
    const publicKey = new x509.PublicKey(await webcrypto.subtle.exportKey("spki", subject.publicKey));
    let i = 0;
    const issueVia = (ca: CertificateAuthority) => () =>
      ca.issueForKey({
        publicKey,
        commonName: `bench-${i++}`,
        family: "EC",
        keyType: "ec-p256",
        profile: "client",
        days: 30,
      });
    const signVia = (signer: Signer) => () => {
      const now = new Date();
      const shape = leafShape({
        profile: "client",
        family: "EC",
        days: 30,
        sans: [],
        commonName: "bench",
        now,
        issuerNotAfter: signer.certificate.notAfter,
      });
      return signCertificate({ serial: randomSerial(), subject: cnName("bench"), shape, publicKey, issuer: signer });
    };
    // Sanity: both CAs' certificates verify against their intermediates.
    for (const [ca, s] of [
      [fileCa, fileSigner],
      [hsmCa, tokenSigner],
    ] as const) {
      const cert = new x509.X509Certificate(
        (
          await ca.issueForKey({
            publicKey,
            commonName: "check",
            family: "EC",
            keyType: "ec-p256",
            profile: "client",
            days: 30,
          })
        ).pem,
      );
      if (!(await cert.verify({ publicKey: s.certificate.publicKey })))
        throw new Error("bench: a certificate does not verify");
    }

    const [issueFile, issueHsm] = await sideBySide([issueVia(fileCa), issueVia(hsmCa)]);
    const [signFile, signHsm] = await sideBySide([signVia(fileSigner), signVia(tokenSigner)]);

    // Raw signatures over 200 bytes (the size of a small TBSCertificate's digest input does not matter much).
    const data = new Uint8Array(webcrypto.getRandomValues(new Uint8Array(200)));
    const alg = { name: "ECDSA", hash: "SHA-256" };
    const tokenCrypto = tokenSigner.crypto as Crypto;
    const p11Key = tokenSigner.signingKey as unknown as P11CryptoKey;
    const session = (tokenCrypto.subtle as unknown as { container: { session: graphene.Session } }).container.session;
    // SoftHSM2 has no CKM_ECDSA_SHA256: hash here, then CKM_ECDSA in the token (what node-webcrypto-p11 does too).
    const grapheneSign = (): Buffer =>
      session.createSign("ECDSA", p11Key.key as graphene.PrivateKey).once(createHash("sha256").update(data).digest());
    const [rawNode, rawP11, rawGraphene] = await sideBySide([
      () => webcrypto.subtle.sign(alg, fileSigner.signingKey, data),
      () => tokenCrypto.subtle.sign(alg, tokenSigner.signingKey, data),
      grapheneSign,
    ]);

    table([
      {
        name: "issue (sign + registry), token vs files",
        unit: "cert/s",
        product: issueHsm as number,
        bare: issueFile as number,
      },
      {
        name: "signCertificate alone, token vs files",
        unit: "cert/s",
        product: signHsm as number,
        bare: signFile as number,
      },
      {
        name: "ECDSA P-256 sign: node-webcrypto-p11 vs Node",
        unit: "sig/s",
        product: rawP11 as number,
        bare: rawNode as number,
      },
      {
        name: "ECDSA P-256 sign: graphene-pk11 vs Node",
        unit: "sig/s",
        product: rawGraphene as number,
        bare: rawNode as number,
        extra: `(WebCrypto layer: ${((100 * (rawP11 as number)) / (rawGraphene as number)).toFixed(0)}% of graphene)`,
      },
    ]);
  } finally {
    await hsmSigner?.close?.();
    await fileDb.destroy();
    await hsmDb.destroy();
    rmSync(dir, { recursive: true, force: true });
    token.cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await benchHsm();
}
