/**
 * CA keys in a PKCS#11 token (an HSM; SoftHSM2 for trying it out). The keys are generated inside the token with
 * CKA_TOKEN=true, CKA_SENSITIVE=true and CKA_EXTRACTABLE=false, and never leave it: the token signs, and
 * node-webcrypto-p11 presents it as a WebCrypto provider, so that a token key is a CryptoKey plus the provider that
 * holds it (Signer.crypto) and @peculiar/x509 signs through it like through Node's own WebCrypto.
 *
 * Loaded only when a CA uses a token (pkcs11-signers.ts, loaded on demand by pkcs11-record.ts, and `ca init`), so the
 * native pkcs11js addon is never needed by CAs with key files. The session itself: pkcs11-session.ts.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as graphene from "graphene-pk11";
import { Crypto as P11Crypto, CryptoKey as P11CryptoKey } from "node-webcrypto-p11";
import { x509 } from "../x509/x509.js";
import { keyTypeSpec } from "../keys/key-types.js";
import { RSA_POLICY } from "../policy/keys.js";
import type { KeyType } from "../keys/key-types.js";
import { Pkcs11TokenError } from "../errors/index.js";
import type { Pkcs11KeyRef } from "./pkcs11-record.js";
import { openSession, sessionLost, tokenFailure } from "./pkcs11-session.js";
import type { OpenOptions } from "./pkcs11-session.js";

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
          if (this.closed || !sessionLost(err)) throw tokenFailure(this.label, err);
          try {
            await this.reopen();
            return await this.p11.subtle.sign(algorithm, this.current.get(key) ?? key, data);
          } catch (again) {
            throw tokenFailure(this.label, again);
          }
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
