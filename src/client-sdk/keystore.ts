/**
 * Where a user's private key lives. The file store keeps it only encrypted (PKCS#8 + PBES2, 0600, written to a temp
 * file and renamed); it is decrypted in memory when needed. Other stores (browser, OS keychain) implement the same
 * interface.
 */
import { readFileSync } from "node:fs";
import type { KeyObject } from "node:crypto";
import { decryptPrivateKey, encryptCryptoKey } from "../keys/encrypted-pkcs8.js";
import { writeSecretFile } from "../files/secret-file.js";
import { InvalidInputError } from "../errors/index.js";

/** Supplies the passphrase when a key is opened (a prompt, a file, an environment variable). */
export type PassphraseProvider = () => Promise<string> | string;

export interface KeyStore {
  /** Stores a new key, encrypted; refuses to replace an existing one. */
  save(privateKey: CryptoKey, passphrase: string): Promise<void>;
  /** Opens the key; a wrong passphrase gives BadPassphraseError. */
  load(passphrase: PassphraseProvider): Promise<KeyObject>;
}

export class FileKeyStore implements KeyStore {
  constructor(readonly path: string) {}

  async save(privateKey: CryptoKey, passphrase: string): Promise<void> {
    if (passphrase.length < 8) throw new InvalidInputError("the key passphrase must be at least 8 characters");
    writeSecretFile(this.path, await encryptCryptoKey(privateKey, passphrase));
  }

  async load(passphrase: PassphraseProvider): Promise<KeyObject> {
    let pem: string;
    try {
      pem = readFileSync(this.path, "utf8");
    } catch {
      throw new InvalidInputError(`cannot read the key file ${this.path}`);
    }
    return decryptPrivateKey(pem, await passphrase());
  }
}
