/**
 * The CA's and the audit trail's signers over keys in a PKCS#11 token (pkcs11.ts): the process shares one session
 * per token between them, and a token key is used only once it is checked to match the certificate it signs for.
 * Loaded on demand (pkcs11-record.ts, audit/audit-key.ts), so CAs with key files never load the native addon.
 */
import "reflect-metadata";
import { createPublicKey, verify, webcrypto } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { x509 } from "../x509/x509.js";
import { keyTypeSpec } from "../keys/key-types.js";
import type { KeyType } from "../keys/key-types.js";
import { Pkcs11TokenError } from "../errors/index.js";
import { caKeyType, readCaCertificates } from "./ca-files.js";
import { obtainPkcs11Pin } from "./pkcs11-record.js";
import type { Pkcs11KeyRef, Pkcs11Options, Pkcs11Record } from "./pkcs11-record.js";
import type { CaPaths } from "./ca-files.js";
import type { DataSigner, Signer } from "./sign.js";
import { Pkcs11Token } from "./pkcs11.js";
import type { OpenOptions } from "./pkcs11-session.js";

const shared = new Map<string, { token: Pkcs11Token; users: number }>();

/**
 * The process's one session on a token (the CA signer and the audit signer of a server share it, as they share the
 * login): opened by the first user, closed when the last one releases it.
 */
function acquireToken(opts: OpenOptions & { serial: string }): { token: Pkcs11Token; release: () => Promise<void> } {
  const id = JSON.stringify([opts.module, opts.token, opts.serial, opts.pin]);
  let entry = shared.get(id);
  if (!entry) {
    entry = { token: Pkcs11Token.open(opts), users: 0 };
    shared.set(id, entry);
  }
  const e = entry;
  e.users++;
  let released = false;
  return {
    token: e.token,
    release: async () => {
      if (released) return;
      released = true;
      if (--e.users > 0) return;
      if (shared.get(id) === e) shared.delete(id);
      await e.token.close();
    },
  };
}

/** Proves that the token key is the one in the certificate: sign a random challenge in the token, verify it in Node. */
async function checkKeyMatches(
  token: Pkcs11Token,
  key: CryptoKey,
  cert: x509.X509Certificate,
  keyType: KeyType,
): Promise<void> {
  const spec = keyTypeSpec(keyType);
  const signingAlgorithm = spec.signingAlgorithm as Algorithm;
  const challenge = webcrypto.getRandomValues(new Uint8Array(32));
  const signature = await token.crypto.subtle.sign(signingAlgorithm, key, challenge);
  const pub = await cert.publicKey.export(spec.keyAlgorithm, ["verify"], webcrypto as unknown as Crypto);
  if (!(await webcrypto.subtle.verify(signingAlgorithm, pub as never, signature, challenge))) {
    throw new Pkcs11TokenError(`the key in token "${token.label}" does not match ${cert.subject}`);
  }
}

/** The intermediate's signer in the token that pkcs11.json names (module and token may be overridden by options). */
export async function loadPkcs11Signer(
  paths: CaPaths,
  rec: Pkcs11Record,
  opts: Pkcs11Options | undefined,
): Promise<Signer> {
  const { intermediate } = readCaCertificates(paths);
  const keyType = caKeyType(intermediate);
  const spec = keyTypeSpec(keyType);
  const signingAlgorithm = spec.signingAlgorithm as Algorithm;
  const { token, release } = acquireToken({
    module: opts?.module ?? rec.module,
    token: opts?.token ?? rec.tokenLabel,
    pin: obtainPkcs11Pin(opts),
    serial: rec.tokenSerial,
  });
  try {
    const signingKey = await token.privateKey(rec.keys.intermediate, keyType);
    await checkKeyMatches(token, signingKey, intermediate, keyType);
    return { signingKey, signingAlgorithm, certificate: intermediate, crypto: token.crypto, close: release };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * The audit key's label in the CA's token: "certvault audit <tag>" beside "certvault root|intermediate <tag>" (so
 * that it names its CA as they do), or "certvault-audit" for a record whose labels do not follow that pattern.
 */
export function auditKeyLabel(rec: Pkcs11Record): string {
  const tag = /^certvault intermediate (\S+)$/.exec(rec.keys.intermediate.label)?.[1];
  return tag === undefined ? "certvault-audit" : `certvault audit ${tag}`;
}

const AUDIT_KEY_TYPE: KeyType = "ec-p256";
const ECDSA_P256_SHA256 = { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;

/**
 * The audit (checkpoint) signer in the CA's token: a P-256 key pair generated inside the token the first time it is
 * needed (sensitive, never extractable, like the CA keys; label auditKeyLabel(rec)), found again by that label on
 * later loads, on the same session and login as the CA signer. Signatures are DER, as Node's crypto.sign makes them:
 * the token's WebCrypto gives r||s (IEEE P1363), re-encoded by @peculiar/x509's ECDSA signature formatter.
 *
 * `expected` is the public key the verifier will use (HOME/audit/audit.pub) when there is one: the token key must
 * sign a challenge that it verifies, as the CA signer is checked against its certificate. Without it the public key
 * is the token's own (the new key's, or the public key object beside the private one), for the caller to write.
 */
export async function loadPkcs11AuditSigner(
  rec: Pkcs11Record,
  opts: Pkcs11Options | undefined,
  expected: KeyObject | undefined,
): Promise<DataSigner> {
  const { token, release } = acquireToken({
    module: opts?.module ?? rec.module,
    token: opts?.token ?? rec.tokenLabel,
    pin: obtainPkcs11Pin(opts),
    serial: rec.tokenSerial,
  });
  let made: CryptoKeyPair | undefined;
  try {
    const label = auditKeyLabel(rec);
    const ids = token.privateKeyIds(label);
    if (ids.length > 1)
      throw new Pkcs11TokenError(
        `token "${token.label}" holds ${ids.length} private keys labelled "${label}"; expected one audit key (remove the ones that HOME/audit/audit.pub does not match)`,
      );
    let ref: Pkcs11KeyRef;
    let spki: Buffer;
    if (ids.length === 0) {
      if (expected)
        throw new Pkcs11TokenError(
          `token "${token.label}" holds no audit key labelled "${label}", but HOME/audit/audit.pub exists: it belongs to a key that is gone; refusing to make a new one under it`,
        );
      const gen = await token.generateSigningKeyPair(AUDIT_KEY_TYPE, label);
      made = gen.keys;
      ref = gen.ref;
      spki = Buffer.from(gen.publicKey.rawData);
    } else {
      ref = { label, id: ids[0] as string };
      spki = expected ? Buffer.alloc(0) : await token.publicKeySpki(ref, AUDIT_KEY_TYPE);
    }
    const publicKey = expected ?? createPublicKey({ key: spki, format: "der", type: "spki" });
    const key = await token.privateKey(ref, AUDIT_KEY_TYPE);
    const sign = async (data: Uint8Array): Promise<Buffer> => {
      const raw = await token.crypto.subtle.sign(ECDSA_P256_SHA256, key, data as Uint8Array<ArrayBuffer>);
      const der = new x509.AsnEcSignatureFormatter().toAsnSignature(
        { name: "ECDSA", namedCurve: "P-256" } as EcKeyAlgorithm,
        raw,
      );
      if (!der) throw new Pkcs11TokenError("cannot DER-encode the token's ECDSA signature");
      return Buffer.from(der);
    };
    const challenge = webcrypto.getRandomValues(new Uint8Array(32));
    if (!verify("sha256", challenge, publicKey, await sign(challenge))) {
      throw new Pkcs11TokenError(
        `the audit key "${label}" in token "${token.label}" does not match HOME/audit/audit.pub`,
      );
    }
    return { publicKey, sign, close: release, created: made !== undefined };
  } catch (err) {
    if (made) token.destroyKeyPair(made);
    await release();
    throw err;
  }
}
