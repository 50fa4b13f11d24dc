/**
 * CA keys in a PKCS#11 token (an HSM; SoftHSM2 for trying it out). The keys are generated inside the token with
 * CKA_TOKEN=true, CKA_SENSITIVE=true and CKA_EXTRACTABLE=false, and never leave it: the token signs, and
 * node-webcrypto-p11 presents it as a WebCrypto provider, so that a token key is a CryptoKey plus the provider that
 * holds it (Signer.crypto) and @peculiar/x509 signs through it like through Node's own WebCrypto.
 *
 * Loaded only when a CA uses a token (pkcs11-record.ts imports it on demand), so the native pkcs11js addon is never
 * needed by CAs with key files.
 */
import "reflect-metadata";
import { createPublicKey, verify, webcrypto } from "node:crypto";
import type { KeyObject } from "node:crypto";
import * as graphene from "graphene-pk11";
import { Crypto as P11Crypto, CryptoKey as P11CryptoKey } from "node-webcrypto-p11";
import { x509 } from "../x509/x509.js";
import { keyTypeSpec } from "../keys/key-types.js";
import { RSA_POLICY } from "../policy/keys.js";
import type { KeyType } from "../keys/key-types.js";
import { Pkcs11TokenError } from "../errors/index.js";
import { caKeyType, readCaCertificates } from "./ca-files.js";
import { obtainPkcs11Pin } from "./pkcs11-record.js";
import type { Pkcs11KeyRef, Pkcs11Options, Pkcs11Record } from "./pkcs11-record.js";
import type { CaPaths } from "./ca-files.js";
import type { DataSigner, Signer } from "./sign.js";

const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const modules = new Map<string, graphene.Module>();

/** One loaded (and C_Initialize'd) module per path and process; never finalized, so sessions of several CAs coexist. */
function loadModule(path: string): graphene.Module {
  const known = modules.get(path);
  if (known) return known;
  let mod: graphene.Module;
  try {
    mod = graphene.Module.load(path, "certvault");
  } catch (err) {
    throw new Pkcs11TokenError(`cannot load the PKCS#11 module ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    mod.initialize();
  } catch (err) {
    if ((err as { code?: number }).code !== CKR_CRYPTOKI_ALREADY_INITIALIZED)
      throw new Pkcs11TokenError(`cannot initialize the PKCS#11 module ${path}: ${(err as Error).message}`, {
        cause: err,
      });
  }
  modules.set(path, mod);
  return mod;
}

/** A logged-in read-write session on one token, as a WebCrypto provider. */
/** Return values that mean the session is gone (HSM restarted, network HSM failed over, sessions closed under us). */
const SESSION_LOST = new Set([
  0x30, // CKR_DEVICE_ERROR
  0x31, // CKR_DEVICE_MEMORY
  0x32, // CKR_DEVICE_REMOVED
  0xb0, // CKR_SESSION_CLOSED
  0xb3, // CKR_SESSION_HANDLE_INVALID
  0xe0, // CKR_TOKEN_NOT_PRESENT
  0x101, // CKR_USER_NOT_LOGGED_IN
  0x82, // CKR_OBJECT_HANDLE_INVALID (handles of a previous session)
  0x60, // CKR_KEY_HANDLE_INVALID
]);

function sessionLost(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number") return SESSION_LOST.has(code);
  return /CKR_(DEVICE_ERROR|DEVICE_MEMORY|DEVICE_REMOVED|SESSION_CLOSED|SESSION_HANDLE_INVALID|TOKEN_NOT_PRESENT|USER_NOT_LOGGED_IN|OBJECT_HANDLE_INVALID|KEY_HANDLE_INVALID)/.test(
    String((err as Error)?.message ?? ""),
  );
}

interface OpenOptions {
  module: string;
  token: string;
  pin: string;
  serial?: string;
}

/** Finds the one slot whose token has this label (and serial), opens a read-write session and logs in. */
function openSession(opts: OpenOptions): { session: graphene.Session; serial: string } {
  const mod = loadModule(opts.module);
  const slots = mod.getSlots(true);
  const matches: graphene.Slot[] = [];
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    const token = slot.getToken();
    if (token.label.trim() === opts.token && (opts.serial === undefined || token.serialNumber.trim() === opts.serial))
      matches.push(slot);
  }
  if (matches.length === 0)
    throw new Pkcs11TokenError(
      `no token labelled "${opts.token}"${opts.serial ? ` with serial ${opts.serial}` : ""} in ${opts.module}`,
    );
  if (matches.length > 1)
    throw new Pkcs11TokenError(
      `${matches.length} tokens are labelled "${opts.token}" in ${opts.module}; give each CA its own label`,
    );
  const slot = matches[0] as graphene.Slot;
  const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
  try {
    session.login(opts.pin, graphene.UserType.USER);
  } catch (err) {
    // CKR_USER_ALREADY_LOGGED_IN (0x100): another session of this process logged the token in.
    if ((err as { code?: number }).code !== 0x100) {
      session.close();
      throw new Pkcs11TokenError(`cannot log in to token "${opts.token}": ${(err as Error).message}`, { cause: err });
    }
  }
  return { session, serial: slot.getToken().serialNumber.trim() };
}

/**
 * A logged-in read-write session on one token, as a WebCrypto provider. Signatures are serialized (a PKCS#11
 * session runs one operation at a time). When a signature fails because the session is gone (an HSM restart, a
 * network HSM's failover, sessions closed under us), the token is opened and logged in again, the keys are found
 * again by label and CKA_ID, and that signature is retried once; so a long-running server keeps the PIN in memory.
 */
export class Pkcs11Token {
  private closed = false;
  private tail: Promise<unknown> = Promise.resolve();
  /** Keys handed out by privateKey(), so that they can be found again in a new session. */
  private readonly refs = new Map<CryptoKey, { ref: Pkcs11KeyRef; keyType: KeyType }>();
  /** A key handed out before a reopen -> the same key in the current session. */
  private readonly current = new Map<CryptoKey, CryptoKey>();
  /** What @peculiar/x509 signs through: the token's WebCrypto with sign() serialized and recovering lost sessions. */
  readonly crypto: Crypto;
  /** How many times the session was reopened (for tests and logs). */
  reopened = 0;

  private constructor(
    private readonly opts: OpenOptions,
    readonly serial: string,
    private session: graphene.Session,
    private p11crypto: P11Crypto,
  ) {
    const sign = (algorithm: AlgorithmIdentifier, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> => {
      const run = this.tail.then(async () => {
        try {
          return await this.p11.subtle.sign(algorithm, this.current.get(key) ?? key, data);
        } catch (err) {
          if (this.closed || !sessionLost(err)) throw err;
          await this.reopen();
          return this.p11.subtle.sign(algorithm, this.current.get(key) ?? key, data);
        }
      });
      this.tail = run.catch(() => undefined);
      return run;
    };
    const facade = Object.create(p11crypto.subtle, { sign: { value: sign } }) as SubtleCrypto;
    this.crypto = {
      subtle: facade,
      getRandomValues: <T extends ArrayBufferView | null>(a: T) => webcrypto.getRandomValues(a as never) as T,
      randomUUID: () => webcrypto.randomUUID(),
    } as unknown as Crypto;
  }

  get label(): string {
    return this.opts.token;
  }

  /** The token's own WebCrypto (node-webcrypto-p11) on the current session. */
  get p11(): P11Crypto {
    return this.p11crypto;
  }

  static open(opts: OpenOptions): Pkcs11Token {
    const { session, serial } = openSession(opts);
    return new Pkcs11Token(opts, serial, session, new P11Crypto({ session }));
  }

  private async reopen(): Promise<void> {
    try {
      this.session.close();
    } catch {
      // It is gone already: that is why we are here.
    }
    const { session } = openSession({ ...this.opts, serial: this.serial });
    this.session = session;
    this.p11crypto = new P11Crypto({ session });
    for (const [key, { ref, keyType }] of this.refs) this.current.set(key, await this.findPrivateKey(ref, keyType));
    this.reopened++;
  }

  /** A signing key pair made inside the token: private key CKA_TOKEN, CKA_SENSITIVE, not CKA_EXTRACTABLE. */
  async generateSigningKeyPair(
    keyType: KeyType,
    label: string,
  ): Promise<{ keys: CryptoKeyPair; publicKey: x509.PublicKey; ref: Pkcs11KeyRef }> {
    const spec = keyTypeSpec(keyType);
    const algorithm =
      spec.keyAlgorithm.name === "ECDSA"
        ? { ...spec.keyAlgorithm }
        : { ...spec.keyAlgorithm, modulusLength: RSA_POLICY.generatedBits, publicExponent: new Uint8Array([1, 0, 1]) };
    let keys: CryptoKeyPair;
    try {
      keys = (await this.p11.subtle.generateKey(
        { ...algorithm, token: true, sensitive: true, label } as unknown as EcKeyGenParams,
        false,
        ["sign", "verify"],
      )) as CryptoKeyPair;
    } catch (err) {
      throw new Pkcs11TokenError(
        `token "${this.label}" could not generate a ${keyType} key: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const priv = (keys.privateKey as unknown as P11CryptoKey).p11Object;
    const attrs = priv.getAttribute({ extractable: null, sensitive: null, token: null, id: null }) as {
      extractable: boolean;
      sensitive: boolean;
      token: boolean;
      id: Buffer;
    };
    if (attrs.extractable || !attrs.sensitive || !attrs.token) {
      priv.destroy();
      (keys.publicKey as unknown as P11CryptoKey).p11Object.destroy();
      throw new Pkcs11TokenError(
        `token "${this.label}" did not keep the new key sensitive, non-extractable and persistent; refusing to use it`,
      );
    }
    const publicKey = new x509.PublicKey(await this.p11.subtle.exportKey("spki", keys.publicKey));
    return { keys, publicKey, ref: { label, id: attrs.id.toString("hex") } };
  }

  /** Removes a key pair made by generateSigningKeyPair (an init that failed before recording it); best effort. */
  destroyKeyPair(keys: CryptoKeyPair): void {
    for (const key of [keys.privateKey, keys.publicKey]) {
      try {
        (key as unknown as P11CryptoKey).p11Object.destroy();
      } catch {
        // Already gone, or the session is: nothing more to do.
      }
    }
  }

  /** The private key with this label and CKA_ID, as a CryptoKey of this token (usable with `crypto`). */
  async privateKey(ref: Pkcs11KeyRef, keyType: KeyType): Promise<CryptoKey> {
    const key = await this.findPrivateKey(ref, keyType);
    this.refs.set(key, { ref, keyType });
    return key;
  }

  private async findPrivateKey(ref: Pkcs11KeyRef, keyType: KeyType): Promise<CryptoKey> {
    const found: graphene.SessionObject[] = [];
    this.session.find(
      { class: graphene.ObjectClass.PRIVATE_KEY, token: true, label: ref.label, id: Buffer.from(ref.id, "hex") },
      (obj) => {
        found.push(obj);
      },
    );
    if (found.length !== 1)
      throw new Pkcs11TokenError(
        `token "${this.label}" holds ${found.length} private keys labelled "${ref.label}" with id ${ref.id} (expected exactly one)`,
      );
    // node-webcrypto-p11's KeyStorage index ("private-<handle>-<CKA_ID>"): the handle is this session's.
    const index = P11CryptoKey.getID((found[0] as graphene.SessionObject).toType<graphene.PrivateKey>());
    const spec = keyTypeSpec(keyType);
    return (await this.p11.keyStorage.getItem(index, spec.keyAlgorithm as Algorithm, false, [
      "sign",
    ])) as unknown as CryptoKey;
  }

  /** The CKA_IDs (hex) of the token's private keys with this label. */
  privateKeyIds(label: string): string[] {
    const ids: string[] = [];
    this.session.find({ class: graphene.ObjectClass.PRIVATE_KEY, token: true, label }, (obj) => {
      ids.push((obj.getAttribute({ id: null }) as { id: Buffer }).id.toString("hex"));
    });
    return ids;
  }

  /** The public key object beside a private key (same label and CKA_ID), as SPKI DER. */
  async publicKeySpki(ref: Pkcs11KeyRef, keyType: KeyType): Promise<Buffer> {
    const found: graphene.SessionObject[] = [];
    this.session.find(
      { class: graphene.ObjectClass.PUBLIC_KEY, token: true, label: ref.label, id: Buffer.from(ref.id, "hex") },
      (obj) => {
        found.push(obj);
      },
    );
    if (found.length !== 1)
      throw new Pkcs11TokenError(
        `token "${this.label}" holds ${found.length} public keys labelled "${ref.label}" with id ${ref.id} (expected exactly one)`,
      );
    const index = P11CryptoKey.getID((found[0] as graphene.SessionObject).toType<graphene.PublicKey>());
    const key = (await this.p11.keyStorage.getItem(index, keyTypeSpec(keyType).keyAlgorithm as Algorithm, true, [
      "verify",
    ])) as unknown as CryptoKey;
    return Buffer.from(await this.p11.subtle.exportKey("spki", key as never));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    try {
      this.session.close();
    } catch {
      // The module may already be gone at exit; nothing is left to release then.
    }
  }
}

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
