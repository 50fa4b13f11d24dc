/**
 * `certvault ca init`: a new CA's root and issuing intermediate (key files encrypted with the passphrase, or keys
 * made inside a PKCS#11 token), their certificates and the root's first CRL, written to the CA's folder. Issuing,
 * revoking and CRLs of a CA that exists are authority.ts's.
 */
import type { x509 } from "../x509/x509.js";
import { randomBytes } from "node:crypto";
import { CaExistsError, UsageError } from "../errors/index.js";
import { generateKeyPair, keyTypeSpec } from "../keys/key-types.js";
import type { KeyType } from "../keys/key-types.js";
import { encryptCryptoKey } from "../keys/encrypted-pkcs8.js";
import { writeFileAtomic, writeSecretFile } from "../files/secret-file.js";
import { caExists, ensureCaDir, readCaCertificates } from "./ca-files.js";
import type { CaCertificates, CaPaths } from "./ca-files.js";
import { intermediateShape, rootShape } from "./profiles.js";
import { randomSerial } from "./serial.js";
import { signCertificate } from "./sign.js";
import { buildCrl } from "./crl.js";
import { pkcs11RecordPath } from "./pkcs11-record.js";
import type { Pkcs11Record } from "./pkcs11-record.js";
import { crlPem } from "../x509/pem.js";
import { cnName } from "./authority.js";

export interface InitCaOptions {
  name: string;
  keyType: KeyType;
  /** Encrypts the key files; with `pkcs11` the keys stay in the token and the passphrase is the caller's (audit key). */
  passphrase: string;
  now?: Date;
  /** Make the root and intermediate keys inside this PKCS#11 token instead of files (HOME/ca/pkcs11.json records where). */
  pkcs11?: { module: string; token: string; pin: string };
  /**
   * PBKDF2 rounds of the key files (default certvault's 600,000). Only the test kit lowers it, for throwaway CAs
   * under a published passphrase; the CLI never sets it.
   */
  keyFileIterations?: number;
}

export async function initCa(paths: CaPaths, opts: InitCaOptions): Promise<CaCertificates> {
  if (caExists(paths)) throw new CaExistsError(`a CA already exists in ${paths.dir}; refusing to overwrite it`);
  if (opts.passphrase.length < 8) throw new UsageError("the CA passphrase must be at least 8 characters");
  const now = opts.now ?? new Date();
  if (!opts.pkcs11) {
    ensureCaDir(paths);
    const rootKeys = await generateKeyPair(opts.keyType);
    const intKeys = await generateKeyPair(opts.keyType);
    return makeCa(
      paths,
      opts,
      now,
      { rootKeys, rootPublic: rootKeys.publicKey, intPublic: intKeys.publicKey },
      async () => {
        // Keys first: a CA directory never holds a certificate without its key.
        const rounds = opts.keyFileIterations;
        writeSecretFile(paths.rootKey, await encryptCryptoKey(rootKeys.privateKey, opts.passphrase, rounds));
        writeSecretFile(paths.intermediateKey, await encryptCryptoKey(intKeys.privateKey, opts.passphrase, rounds));
      },
    );
  }
  const p11 = opts.pkcs11;
  const { Pkcs11Token } = await import("./pkcs11.js");
  const token = Pkcs11Token.open(p11);
  try {
    ensureCaDir(paths);
    // Labels name the CA; the CKA_ID (from the public key) tells keys of the same label apart.
    const tag = randomBytes(4).toString("hex");
    const made: CryptoKeyPair[] = [];
    let recorded = false;
    try {
      const root = await token.generateSigningKeyPair(opts.keyType, `certvault root ${tag}`);
      made.push(root.keys);
      const int = await token.generateSigningKeyPair(opts.keyType, `certvault intermediate ${tag}`);
      made.push(int.keys);
      const record: Pkcs11Record = {
        version: 1,
        module: p11.module,
        tokenLabel: p11.token,
        tokenSerial: token.serial,
        keys: { root: root.ref, intermediate: int.ref },
      };
      return await makeCa(
        paths,
        opts,
        now,
        { rootKeys: root.keys, rootPublic: root.publicKey, intPublic: int.publicKey, crypto: token.crypto },
        async () => {
          // Where the keys are, first: a CA directory never holds a certificate without a way to its key.
          writeFileAtomic(pkcs11RecordPath(paths), JSON.stringify(record, null, 2) + "\n", { mode: 0o644 });
          recorded = true;
        },
      );
    } catch (err) {
      // Keys that no pkcs11.json points to would only clutter the token: remove them (best effort).
      if (!recorded) for (const pair of made) token.destroyKeyPair(pair);
      throw err;
    }
  } finally {
    await token.close();
  }
}

async function makeCa(
  paths: CaPaths,
  opts: InitCaOptions,
  now: Date,
  k: {
    rootKeys: CryptoKeyPair;
    rootPublic: x509.PublicKey | CryptoKey;
    intPublic: x509.PublicKey | CryptoKey;
    crypto?: Crypto;
  },
  storeKeys: () => Promise<void>,
): Promise<CaCertificates> {
  const signingAlgorithm = keyTypeSpec(opts.keyType).signingAlgorithm as Algorithm;
  const via = k.crypto ? { crypto: k.crypto } : {};
  const root = await signCertificate({
    serial: randomSerial(),
    subject: cnName(`${opts.name} Root CA`),
    shape: rootShape(now),
    publicKey: k.rootPublic,
    issuer: { selfSigned: k.rootKeys, signingAlgorithm, ...via },
  });
  const intermediate = await signCertificate({
    serial: randomSerial(),
    subject: cnName(`${opts.name} Issuing CA`),
    shape: intermediateShape(now, root.notAfter),
    publicKey: k.intPublic,
    issuer: { signingKey: k.rootKeys.privateKey, signingAlgorithm, certificate: root, ...via },
  });
  await storeKeys();
  writeFileAtomic(paths.rootCert, root.toString("pem") + "\n", { mode: 0o644 });
  writeFileAtomic(paths.intermediateCert, intermediate.toString("pem") + "\n", { mode: 0o644 });
  // The root key is used only here, so its CRL (no intermediate revoked) runs as long as the intermediate does.
  // Node's TLS checks CRLs for every certificate of the chain once any CRL is loaded, so it needs this one too.
  const arl = await buildCrl({
    signer: { signingKey: k.rootKeys.privateKey, signingAlgorithm, certificate: root, ...via },
    revoked: [],
    crlNumber: 1,
    now,
    days: Math.ceil((intermediate.notAfter.getTime() - now.getTime()) / 86_400_000),
  });
  writeFileAtomic(paths.rootCrl, crlPem(arl.rawData), { mode: 0o644 });
  return readCaCertificates(paths);
}
