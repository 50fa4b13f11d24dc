/**
 * What the fuzz targets mutate and talk to, made once per run: a throwaway CA (certvault/testing) with identities of
 * each key kind, valid samples of every format (envelopes of each recipient kind, signed records, grant statements,
 * CSRs, certificates, a CRL, encrypted keys), and, for the HTTP targets, a real server on loopback started on demand.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { createTestCA, startTestServer, TEST_KDF_ITERATIONS } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { seal, signGrant, signRecord } from "../../src/envelope/index.js";
import { encryptPkcs8 } from "../../src/keys/encrypted-pkcs8.js";
import { thresholdsFrom } from "../../src/anomaly/rules.js";
import { derOf } from "./mutate.js";

const run = promisify(execFile);

export const USER = "fuzz-user";
export const ADMIN = "fuzz-admin";
export const PLAINTEXTS = [
  new TextEncoder().encode("fuzzed record plaintext, several AES blocks long........"),
  new Uint8Array(0),
];

export interface Samples {
  /** Envelopes: P-256 KARI, P-384 KARI, RSA KTRI, all three (+ a second P-256), signed-data content. */
  envelopes: Uint8Array[];
  signed: Uint8Array[];
  grants: Uint8Array[];
  csrDer: Uint8Array[];
  csrPem: string[];
  certDer: Uint8Array[];
  certPem: string[];
  crlDer: Uint8Array[];
  keyPem: string[];
  keyPassphrase: string;
}

export interface World {
  ca: TestCA;
  user: TestIdentity;
  admin: TestIdentity;
  p384: TestIdentity;
  rsa: TestIdentity;
  /** Recipients of the sample envelopes, with their keys. */
  recipients: TestIdentity[];
  samples: Samples;
  tmp: string;
  /** The server (started on first use) with the abuse controls relaxed so that fuzzing does not quarantine itself. */
  server(): Promise<TestServer>;
  cleanup(): Promise<void>;
}

async function csrOf(who: TestIdentity, cn: string, outform: "DER" | "PEM"): Promise<Buffer> {
  const { stdout } = await run(
    "openssl",
    ["req", "-new", "-key", who.keyPath, "-subj", `/CN=${cn}`, "-outform", outform],
    { encoding: "buffer" },
  );
  return stdout;
}

export async function createWorld(): Promise<World> {
  const ca = await createTestCA({ name: "certvault fuzz" });
  const tmp = mkdtempSync(join(ca.home, "fuzz-"));
  try {
    const [user, admin, p384, rsa, user2] = await Promise.all([
      ca.issueClient(USER),
      ca.issueClient(ADMIN),
      ca.issueClient("fuzz-p384", { keyType: "ec-p384" }),
      ca.issueClient("fuzz-rsa", { keyType: "rsa-3072" }),
      ca.issueClient("fuzz-user-b"),
    ]);
    const signer = { key: user.key, certificate: user.certPem, chain: [ca.intermediatePem] };
    const pt = PLAINTEXTS[0] as Uint8Array;
    const signed = [
      signRecord(pt, signer, { owner: USER, id: "0123456789abcdef0123456789abcdef" }),
      signRecord(new Uint8Array(0), { key: rsa.key, certificate: rsa.certPem }, { owner: "fuzz-rsa", id: "x" }),
    ];
    const envelopes = [
      seal(pt, [user.certPem]),
      seal(pt, [p384.certPem]),
      seal(pt, [rsa.certPem]),
      seal(pt, [user.certPem, user2.certPem, p384.certPem, rsa.certPem]),
      seal(signed[0] as Uint8Array, [user.certPem, rsa.certPem], { contentType: "signed-data" }),
      seal(new Uint8Array(0), [p384.certPem, user.certPem]),
    ];
    const grants = [signGrant(signer, { owner: USER, id: "0123456789abcdef0123456789abcdef", grantee: ADMIN })];
    const csrDer = [
      await csrOf(user, USER, "DER"),
      await csrOf(rsa, "fuzz-rsa", "DER"),
      await csrOf(p384, "fuzz-p384", "DER"),
    ];
    const csrPem = [
      (await csrOf(user, USER, "PEM")).toString("latin1"),
      (await csrOf(rsa, "fuzz-rsa", "PEM")).toString("latin1"),
    ];
    const certPem = [user.certPem, rsa.certPem, p384.certPem, ca.intermediatePem, ca.rootPem];
    const crlPem = await ca.crl();
    const keyPassphrase = "fuzz passphrase";
    const keyPem = [user, rsa].map((w) =>
      encryptPkcs8(new Uint8Array(w.key.export({ format: "der", type: "pkcs8" })), keyPassphrase, TEST_KDF_ITERATIONS),
    );
    const samples: Samples = {
      envelopes,
      signed,
      grants,
      csrDer: csrDer.map((b) => new Uint8Array(b)),
      csrPem,
      certDer: certPem.map(derOf),
      certPem,
      crlDer: [derOf(crlPem)],
      keyPem,
      keyPassphrase,
    };
    let server: Promise<TestServer> | undefined;
    return {
      ca,
      user,
      admin,
      p384,
      rsa,
      recipients: [user, user2, p384, rsa],
      samples,
      tmp,
      server() {
        server ??= startTestServer({
          ca,
          config: {
            adminIdentities: [ADMIN],
            maxRecordBytes: 64 * 1024,
            rateLimits: { identity: { points: 0, seconds: 1 }, source: { points: 0, seconds: 1 } },
            anomaly: thresholdsFrom({
              volumeMin: 1e9,
              distinctRecords: 1e9,
              notFound: 1e9,
              listPages: 1e9,
              staleRecords: 1e9,
              sources: 1e9,
            }),
          },
        });
        return server;
      },
      async cleanup() {
        if (server) await (await server).stop();
        await ca.cleanup();
      },
    };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    await ca.cleanup();
    throw err;
  }
}
