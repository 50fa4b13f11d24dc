/**
 * Envelope throughput against the bare node:crypto ceiling of the same work, side by side in one run.
 * Run: node --import tsx bench/envelope.ts
 * Targets: 1 KiB seal/open >= 50% of the ceiling, 10 MiB >= 70% of raw AES-256-GCM.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  webcrypto,
} from "node:crypto";
import { pathToFileURL } from "node:url";
import { addRecipients, open, seal } from "../src/envelope/index.js";
import { Fixtures } from "../test/envelope/fixtures.js";

const KIB = new Uint8Array(randomBytes(1024));
const BIG = new Uint8Array(randomBytes(10 * 1024 * 1024));
const IV = Buffer.from("a6a6a6a6a6a6a6a6", "hex");
// ECC-CMS-SharedInfo { keyInfo id-aes256-wrap, suppPubInfo 256 }, as envelope/kdf.ts builds it.
const INFO = Buffer.from("3015300b060960864801650304012da206040400000100", "hex");
const RUNS = 7;
const RUN_MS = 250;

function opsPerSecond(fn: () => unknown): number {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < RUN_MS) {
    fn();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

/** Median ops/s of product and bare, runs interleaved so that machine noise hits both alike. */
function compare(product: () => unknown, bare: () => unknown): [number, number] {
  const p: number[] = [];
  const b: number[] = [];
  product();
  bare();
  for (let i = 0; i < RUNS; i++) {
    p.push(opsPerSecond(product));
    b.push(opsPerSecond(bare));
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1] as number;
  return [median(p), median(b)];
}

function gcmSeal(key: Uint8Array, pt: Uint8Array): [Buffer, Buffer, Buffer] {
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  return [nonce, ct, c.getAuthTag()];
}

function gcmOpen(key: Uint8Array, [nonce, ct, tag]: [Buffer, Buffer, Buffer]): Buffer {
  const d = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

const kdf = (z: Uint8Array) =>
  createHash("sha256")
    .update(z)
    .update(Uint8Array.of(0, 0, 0, 1))
    .update(INFO)
    .digest();
const wrap = (kek: Uint8Array, cek: Uint8Array) => {
  const c = createCipheriv("id-aes256-wrap", kek, IV);
  return Buffer.concat([c.update(cek), c.final()]);
};
const unwrap = (kek: Uint8Array, w: Uint8Array) => {
  const d = createDecipheriv("id-aes256-wrap", kek, IV);
  return Buffer.concat([d.update(w), d.final()]);
};

export async function benchEnvelope(): Promise<void> {
  const fx = await Fixtures.create();
  try {
    const { p256, rsa } = await fx.standard();
    const rows: [string, number, number, string, number][] = [];

    // P-256: the ceiling uses node's fastest route (createECDH on raw points), as the product does.
    const jwk = createPublicKey(p256.certPem).export({ format: "jwk" });
    const recipientPoint = Buffer.concat([
      Uint8Array.of(4),
      Buffer.from(jwk.x!, "base64url"),
      Buffer.from(jwk.y!, "base64url"),
    ]);
    const bareEcSeal = () => {
      const e = createECDH("prime256v1");
      e.generateKeys();
      const cek = randomBytes(32);
      return [wrap(kdf(e.computeSecret(recipientPoint)), cek), gcmSeal(cek, KIB)];
    };
    const ecRecipient = createECDH("prime256v1");
    ecRecipient.setPrivateKey(Buffer.from(p256.key.export({ format: "jwk" }).d!, "base64url"));
    const eph = createECDH("prime256v1");
    const ephPoint = eph.generateKeys();
    const cek0 = randomBytes(32);
    const wrapped0 = wrap(kdf(eph.computeSecret(recipientPoint)), cek0);
    const sealed0 = gcmSeal(cek0, KIB);
    const bareEcOpen = () => gcmOpen(unwrap(kdf(ecRecipient.computeSecret(ephPoint)), wrapped0), sealed0);
    const envEc = seal(KIB, [p256.certPem]);
    rows.push(["seal 1 KiB, P-256", ...compare(() => seal(KIB, [p256.certPem]), bareEcSeal), "ops/s", 0.5]);
    rows.push(["open 1 KiB, P-256", ...compare(() => open(envEc, p256.key, p256.certPem), bareEcOpen), "ops/s", 0.5]);

    const rsaPub = createPublicKey(rsa.certPem);
    const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
    const bareRsaSeal = () => {
      const cek = randomBytes(32);
      return [publicEncrypt({ key: rsaPub, ...oaep }, cek), gcmSeal(cek, KIB)];
    };
    const encKey = publicEncrypt({ key: rsaPub, ...oaep }, cek0);
    const bareRsaOpen = () => gcmOpen(privateDecrypt({ key: rsa.key, ...oaep }, encKey), sealed0);
    const envRsa = seal(KIB, [rsa.certPem]);
    rows.push(["seal 1 KiB, RSA-3072", ...compare(() => seal(KIB, [rsa.certPem]), bareRsaSeal), "ops/s", 0.5]);
    rows.push([
      "open 1 KiB, RSA-3072",
      ...compare(() => open(envRsa, rsa.key, rsa.certPem), bareRsaOpen),
      "ops/s",
      0.5,
    ]);

    const mbs = (ops: number) => (ops * BIG.length) / 1e6;
    const bigSealed = gcmSeal(cek0, BIG);
    const envBig = seal(BIG, [p256.certPem]);
    const [sp, sb] = compare(
      () => seal(BIG, [p256.certPem]),
      () => gcmSeal(cek0, BIG),
    );
    rows.push(["seal 10 MiB, P-256", mbs(sp), mbs(sb), "MB/s", 0.7]);
    const [op, ob] = compare(
      () => open(envBig, p256.key, p256.certPem),
      () => gcmOpen(cek0, bigSealed),
    );
    rows.push(["open 10 MiB, P-256", mbs(op), mbs(ob), "MB/s", 0.7]);

    console.log(`envelope bench (median of ${RUNS} x ${RUN_MS} ms, interleaved), node ${process.version}`);
    console.log(`${"".padEnd(22)}${"certvault".padStart(12)}${"bare node".padStart(12)}  unit   ratio  target`);
    for (const [name, product, bare, unit, target] of rows) {
      const ratio = product / bare;
      console.log(
        `${name.padEnd(22)}${product.toFixed(0).padStart(12)}${bare.toFixed(0).padStart(12)}  ${unit.padEnd(6)} ${(ratio * 100).toFixed(0).padStart(4)}%  >=${target * 100}% ${ratio >= target ? "ok" : "BELOW"}`,
      );
    }
    // Key rotation re-wraps without touching content: its rate should not depend on the record's size.
    const MIB = new Uint8Array(randomBytes(1024 * 1024));
    const small = seal(KIB, [p256.certPem]);
    const large = seal(MIB, [p256.certPem]);
    const [rwSmall, rwLarge] = compare(
      () => addRecipients(small, p256.key, p256.certPem, [rsa.certPem], { verifyContent: false }),
      () => addRecipients(large, p256.key, p256.certPem, [rsa.certPem], { verifyContent: false }),
    );
    console.log(
      `re-wrap (rotation, P-256 -> +RSA-3072 recipient): 1 KiB ${rwSmall.toFixed(0)} records/s, 1 MiB ${rwLarge.toFixed(0)} records/s (${((100 * rwLarge) / rwSmall).toFixed(0)}% of the 1 KiB rate)`,
    );
    await alternatives(recipientPoint);
  } finally {
    await fx.cleanup();
  }
}

/** Why the product uses createECDH: the other routes to the same P-256 ephemeral ECDH, measured here. */
async function alternatives(point: Buffer): Promise<void> {
  const pub = createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: point.subarray(1, 33).toString("base64url"),
      y: point.subarray(33).toString("base64url"),
    },
    format: "jwk",
  });
  const viaEcdh = opsPerSecond(() => {
    const e = createECDH("prime256v1");
    e.generateKeys();
    e.computeSecret(point);
  });
  // The ephemeral public key exported as SPKI DER: a JWK export of a generateKeyPairSync key can deadlock Node 20.
  const viaKeyObject = opsPerSecond(() => {
    const k = generateKeyPairSync("ec", { namedCurve: "P-256" });
    k.publicKey.export({ format: "der", type: "spki" });
    diffieHellman({ privateKey: k.privateKey, publicKey: pub });
  });
  const subtle = webcrypto.subtle;
  const wcPub = await subtle.importKey("raw", point, { name: "ECDH", namedCurve: "P-256" }, false, []);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < RUN_MS * 2) {
    const k = (await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
    await subtle.deriveBits({ name: "ECDH", public: wcPub }, k.privateKey, 256);
    await subtle.exportKey("raw", k.publicKey);
    n++;
  }
  const viaWebCrypto = (n * 1000) / (performance.now() - start);
  console.log(
    `ephemeral P-256 keygen+derive: createECDH ${viaEcdh.toFixed(0)}/s, KeyObject+diffieHellman ${viaKeyObject.toFixed(0)}/s, WebCrypto ${viaWebCrypto.toFixed(0)}/s`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchEnvelope();
}
