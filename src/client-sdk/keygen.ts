/**
 * Making a user's key pair and CSR on the user's machine: the private key never leaves it unencrypted.
 */
import { x509, nodeCrypto } from "../x509/x509.js";
import { generateKeyPair, keyTypeSpec } from "../keys/key-types.js";
import type { KeyType } from "../keys/key-types.js";
import { InvalidInputError } from "../errors/index.js";
import { identityProblem } from "../ca/profiles.js";
import type { KeyStore } from "./keystore.js";

export interface KeygenResult {
  csrPem: string;
}

export async function createKeyAndCsr(opts: {
  name: string;
  keyType: KeyType;
  store: KeyStore;
  passphrase: string;
}): Promise<KeygenResult> {
  const problem = identityProblem(opts.name);
  if (problem) throw new InvalidInputError(problem);
  const keys = await generateKeyPair(opts.keyType);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ CN: [opts.name] }],
      keys,
      signingAlgorithm: keyTypeSpec(opts.keyType).signingAlgorithm as Algorithm,
    },
    nodeCrypto,
  );
  await opts.store.save(keys.privateKey, opts.passphrase);
  return { csrPem: csr.toString("pem") + "\n" };
}
