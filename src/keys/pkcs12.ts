/**
 * PKCS#12 (RFC 7292) files that browsers, OS keychains, NSS, curl and OpenSSL import: a private key with its
 * certificate and chain, in the shape `openssl pkcs12 -export` of OpenSSL 3 writes by default, with nothing weak in it:
 *
 *   PFX v3, authSafe = data(AuthenticatedSafe):
 *     encryptedData: SafeContents of CertBags, encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)
 *     data:          SafeContents holding one pkcs8ShroudedKeyBag (EncryptedPrivateKeyInfo, PBES2 as above)
 *   macData: HMAC-SHA256 over the AuthenticatedSafe, its key from the PKCS#12 KDF (RFC 7292 B.2) with SHA-256
 *
 * No RC2, no 3DES, no SHA-1. The key bag and the leaf certificate carry friendlyName (the identity) and the same
 * localKeyId, which is how importers pair them. The structures come from @peculiar/asn1-pfx/-pkcs8/-pkcs9/-cms;
 * PBKDF2, AES and randomness from node:crypto; the PKCS#12 MAC key derivation, which node:crypto lacks, from pkijs.
 *
 * Passwords: PBES2 takes the passphrase's UTF-8 bytes and the MAC KDF its BMPString (UTF-16BE) form, as OpenSSL 3 and
 * NSS do, so a non-ASCII passphrase opens everywhere.
 */
import { createCipheriv, createHash, pbkdf2Sync, randomBytes, webcrypto } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { ContentInfo, EncryptedContent, EncryptedContentInfo, id_data, id_encryptedData } from "@peculiar/asn1-cms";
import { EncryptedData as Pkcs8EncryptedData } from "@peculiar/asn1-pkcs8";
import { FriendlyName, LocalKeyId, id_pkcs9_at_friendlyName, id_pkcs9_at_localKeyId } from "@peculiar/asn1-pkcs9";
import {
  AuthenticatedSafe,
  CertBag,
  MacData,
  PFX,
  PKCS12Attribute,
  PKCS8ShroudedKeyBag,
  SafeBag,
  SafeContents,
  id_certBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
} from "@peculiar/asn1-pfx";
import { DigestInfo, sha256 } from "@peculiar/asn1-rsa";
import { CryptoEngine } from "pkijs";
import { OID_AES256_CBC, OID_HMAC_SHA256, OID_PBES2, OID_PBKDF2, Pbes2Params, Pbkdf2Params } from "./pbes2-asn1.js";

/**
 * PBKDF2 and MAC iterations. Above OpenSSL 3's default (2,048) by a factor of ~100, and under the per-KDF limit that
 * .NET (300,000) applies when it loads a PFX, so that Windows tooling still imports the file.
 */
export const PKCS12_DEFAULT_ITERATIONS = 200_000;
export const PKCS12_MIN_ITERATIONS = 2_048;
export const PKCS12_MAX_ITERATIONS = 10_000_000;

const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/** CMS EncryptedData (RFC 5652 §8), which @peculiar/asn1-cms does not define; unprotectedAttrs are never written. */
export class EncryptedData {
  @AsnProp({ type: AsnPropTypes.Integer })
  version = 0;

  @AsnProp({ type: EncryptedContentInfo })
  encryptedContentInfo = new EncryptedContentInfo();

  constructor(params: Partial<EncryptedData> = {}) {
    Object.assign(this, params);
  }
}

export interface Pkcs12Input {
  /** The private key (decrypted in memory only; its PKCS#8 bytes are wiped after encryption). */
  key: KeyObject;
  /** DER certificates: the leaf (the key's certificate) first, then its chain. */
  certificates: readonly Uint8Array[];
  /** friendlyName of the key and the leaf: what importers show. */
  friendlyName: string;
  /** The PKCS#12 password (never empty). */
  password: string;
  iterations?: number;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** PBES2 encryption: PBKDF2-HMAC-SHA256 (16-byte salt) and AES-256-CBC (random IV). */
function pbes2Encrypt(
  plain: Uint8Array,
  password: string,
  iterations: number,
): { algorithm: AlgorithmIdentifier; ciphertext: Uint8Array } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  try {
    const cipher = createCipheriv("aes-256-cbc", key, iv);
    const ciphertext = new Uint8Array(Buffer.concat([cipher.update(plain), cipher.final()]));
    const kdf = new Pbkdf2Params();
    kdf.salt = toArrayBuffer(salt);
    kdf.iterationCount = iterations;
    kdf.prf = new AlgorithmIdentifier({ algorithm: OID_HMAC_SHA256, parameters: DER_NULL });
    const params = new Pbes2Params();
    params.keyDerivationFunc = new AlgorithmIdentifier({
      algorithm: OID_PBKDF2,
      parameters: AsnConvert.serialize(kdf),
    });
    params.encryptionScheme = new AlgorithmIdentifier({
      algorithm: OID_AES256_CBC,
      parameters: AsnConvert.serialize(new OctetString(iv)),
    });
    return {
      algorithm: new AlgorithmIdentifier({ algorithm: OID_PBES2, parameters: AsnConvert.serialize(params) }),
      ciphertext,
    };
  } finally {
    key.fill(0);
  }
}

/** A bag attribute. (Assigned, not passed to the constructor: asn1-pfx 2.11's PKCS12Attribute drops its params.) */
function attribute(attrId: string, value: ArrayBuffer): PKCS12Attribute {
  return Object.assign(new PKCS12Attribute(), { attrId, attrValues: [value] });
}

function bagAttributes(friendlyName: string, localKeyId: Uint8Array): PKCS12Attribute[] {
  return [
    attribute(id_pkcs9_at_friendlyName, AsnConvert.serialize(new FriendlyName(friendlyName))),
    attribute(id_pkcs9_at_localKeyId, AsnConvert.serialize(new LocalKeyId(localKeyId))),
  ];
}

function dataContentInfo(der: ArrayBuffer): ContentInfo {
  return new ContentInfo({ contentType: id_data, content: AsnConvert.serialize(new OctetString(der)) });
}

/** HMAC-SHA256 keyed by the PKCS#12 KDF (ID 3, SHA-256), as OpenSSL 3 and NSS write and check it. */
async function pkcs12Mac(
  content: ArrayBuffer,
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const engine = new CryptoEngine({ name: "node", crypto: webcrypto as unknown as Crypto });
  const mac = await engine.stampDataWithPassword({
    password: toArrayBuffer(new TextEncoder().encode(password)),
    hashAlgorithm: "SHA-256",
    salt: toArrayBuffer(salt),
    iterationCount: iterations,
    contentToStamp: content,
  });
  return new Uint8Array(mac);
}

/** The PKCS#12 file (DER) for a key, its certificate and chain. */
export async function buildPkcs12(input: Pkcs12Input): Promise<Uint8Array> {
  const iterations = input.iterations ?? PKCS12_DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < PKCS12_MIN_ITERATIONS || iterations > PKCS12_MAX_ITERATIONS) {
    throw new RangeError(
      `PKCS#12 iterations must be an integer from ${PKCS12_MIN_ITERATIONS} to ${PKCS12_MAX_ITERATIONS}`,
    );
  }
  if (input.password.length === 0) throw new RangeError("a PKCS#12 file needs a non-empty password");
  const [leaf, ...chain] = input.certificates;
  if (!leaf) throw new RangeError("a PKCS#12 file needs the key's certificate");
  // Pairs the key with its certificate; any bytes do, this is what a hash of the certificate gives every importer.
  const localKeyId = new Uint8Array(createHash("sha256").update(leaf).digest());
  const attrs = bagAttributes(input.friendlyName, localKeyId);

  // Certificates: leaf (with attributes), then the chain, in one encrypted SafeContents.
  const certBags = [leaf, ...chain].map(
    (der, i) =>
      new SafeBag({
        bagId: id_certBag,
        bagValue: AsnConvert.serialize(
          new CertBag({
            certId: id_x509Certificate,
            certValue: AsnConvert.serialize(new OctetString(toArrayBuffer(der))),
          }),
        ),
        ...(i === 0 ? { bagAttributes: attrs } : {}),
      }),
  );
  const certSafe = new Uint8Array(AsnConvert.serialize(new SafeContents(certBags)));
  const certEnc = pbes2Encrypt(certSafe, input.password, iterations);
  const encryptedCerts = new EncryptedData({
    version: 0,
    encryptedContentInfo: new EncryptedContentInfo({
      contentType: id_data,
      contentEncryptionAlgorithm: certEnc.algorithm,
      encryptedContent: new EncryptedContent({ value: new OctetString(toArrayBuffer(certEnc.ciphertext)) }),
    }),
  });

  // The key: PKCS#8 encrypted with PBES2 (a pkcs8ShroudedKeyBag) in a plain data SafeContents.
  const pkcs8 = input.key.export({ format: "der", type: "pkcs8" });
  let keyEnc: ReturnType<typeof pbes2Encrypt>;
  try {
    keyEnc = pbes2Encrypt(pkcs8, input.password, iterations);
  } finally {
    pkcs8.fill(0);
  }
  const shrouded = new PKCS8ShroudedKeyBag({
    encryptionAlgorithm: keyEnc.algorithm,
    encryptedData: new Pkcs8EncryptedData(toArrayBuffer(keyEnc.ciphertext)),
  });
  const keySafe = new SafeContents([
    new SafeBag({ bagId: id_pkcs8ShroudedKeyBag, bagValue: AsnConvert.serialize(shrouded), bagAttributes: attrs }),
  ]);

  const authSafe = AsnConvert.serialize(
    new AuthenticatedSafe([
      new ContentInfo({ contentType: id_encryptedData, content: AsnConvert.serialize(encryptedCerts) }),
      dataContentInfo(AsnConvert.serialize(keySafe)),
    ]),
  );

  const macSalt = randomBytes(16);
  const mac = await pkcs12Mac(authSafe, input.password, macSalt, iterations);
  const pfx = new PFX({
    version: 3,
    authSafe: dataContentInfo(authSafe),
    macData: new MacData({
      mac: new DigestInfo({ digestAlgorithm: sha256, digest: new OctetString(toArrayBuffer(mac)) }),
      macSalt: new OctetString(toArrayBuffer(macSalt)),
      iterations,
    }),
  });
  return new Uint8Array(AsnConvert.serialize(pfx));
}
