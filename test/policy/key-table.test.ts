/**
 * The key table (policy/keys.ts), row by row, end to end: every key type the CA certifies is issued from an openssl
 * CSR, logs in (GET /v1/me 200), is sealed to by the server (plaintext upload) and by the SDK (put/get), and
 * `openssl cms` opens (and, for the SDK's signed records, verifies) what was made. The rows come from the table itself,
 * so a curve or RSA size added there is covered here without editing this file. Key types outside the table are
 * refused at each door with its stable code: the CSR (csr_rejected), the login (certificate_not_allowed, or the
 * handshake itself), the envelope (unsupported_key), the SDK (untrusted_certificate), the registry vetting
 * (unsealable). Before this table, P-521 was certified and admitted but refused by the envelope (400 unsupported_key
 * on every plaintext upload).
 */
import { expect } from "chai";
import { createPrivateKey, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CURVES, KEY_TYPES, RSA_POLICY } from "../../src/policy/keys.js";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestServer } from "../../src/testing/index.js";
import { CertvaultClient, anchorsFromPem as sdkAnchors, verifyRecipient } from "../../src/client-sdk/index.js";
import { seal } from "../../src/envelope/index.js";
import { vetCsr } from "../../src/ca/csr.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { anchorsFromPem, vetRegistryCertificate } from "../../src/policy/registry-certificate.js";
import { curl, json } from "../helpers/curl.js";
import { openssl, opensslOk, opensslReadRecord } from "../helpers/openssl.js";
import { runCli } from "../helpers/cli.js";
import { X509Certificate } from "node:crypto";
import { request as httpsRequest } from "node:https";

interface Row {
  keyType: string;
  /** openssl req arguments that make a key of this type. */
  newkey: string[];
}

const ACCEPTED: Row[] = [
  ...CURVES.map((c) => ({ keyType: c.keyType, newkey: ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${c.name}`] })),
  ...RSA_POLICY.testedBits.map((bits) => ({ keyType: `rsa-${bits}`, newkey: ["-newkey", `rsa:${bits}`] })),
];

/** Outside the table: a curve OpenSSL knows, a weak RSA size, an algorithm family certvault does not use. */
const REFUSED: (Row & { why: RegExp; handshake: boolean })[] = [
  {
    keyType: "secp256k1",
    newkey: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
    why: /secp256k1/,
    // TLS 1.3 has no signature scheme for secp256k1: the server's OpenSSL ends the handshake (no HTTP at all).
    handshake: false,
  },
  { keyType: "rsa-1024", newkey: ["-newkey", "rsa:1024"], why: /RSA-1024/, handshake: true },
  { keyType: "ed25519", newkey: ["-newkey", "ed25519"], why: /Ed25519/, handshake: true },
];

/**
 * GET with this certificate from node:https at OpenSSL security level 0, so that the client side presents even a key
 * that curl's own OpenSSL refuses to load (RSA-1024): what is judged is the server's answer, not the client's refusal.
 */
function presentCertificate(
  url: string,
  caPem: string,
  id: { certPath: string; keyPath: string },
): Promise<{ status?: number; body: string; tlsError?: string }> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, {
      ca: caPem,
      cert: readFileSync(id.certPath),
      key: readFileSync(id.keyPath),
      ciphers: "DEFAULT@SECLEVEL=0",
      agent: false,
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", (err) => resolve({ body: "", tlsError: err.message }));
    req.end();
  });
}

interface Made {
  row: Row;
  name: string;
  keyPath: string;
  csrPath: string;
  certPath: string;
  certPem: string;
}

async function makeCsr(ca: TestCA, row: Row): Promise<Omit<Made, "certPem">> {
  const name = `kt-${row.keyType}`;
  const base = join(ca.home, name);
  await opensslOk([
    "req",
    "-new",
    ...row.newkey,
    "-nodes",
    "-subj",
    `/CN=${name}`,
    "-keyout",
    `${base}.key`,
    "-out",
    `${base}.csr`,
  ]);
  return { row, name, keyPath: `${base}.key`, csrPath: `${base}.csr`, certPath: `${base}.crt` };
}

/** Signed by our intermediate with openssl alone (the CA refuses such a CSR), registered like an issued one. */
async function signWithOpenssl(ca: TestCA, m: Omit<Made, "certPem">): Promise<string> {
  writeFileSync(
    `${m.csrPath}.ext`,
    "keyUsage=critical,digitalSignature,keyAgreement,keyEncipherment\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
  );
  await opensslOk([
    "x509", "-req", "-in", m.csrPath, "-CA", ca.paths.intermediateCert, "-CAkey", ca.paths.intermediateKey,
    "-passin", `file:${ca.passphraseFile}`, "-set_serial", `0x5${randomBytes(15).toString("hex")}`, "-days", "30",
    "-extfile", `${m.csrPath}.ext`, "-out", m.certPath,
  ]); // prettier-ignore
  return readFileSync(m.certPath, "utf8");
}

describe("policy: every key type of the table is issued, logs in, and is sealed to", function () {
  let ca: TestCA;
  let server: TestServer;
  const made: Made[] = [];
  const refused: (Made & { why: RegExp; csrError: unknown })[] = [];

  before(async function () {
    ca = await createTestCA();
    for (const row of ACCEPTED) {
      const m = await makeCsr(ca, row);
      const issued = await ca.authority.issueFromCsr(readFileSync(m.csrPath), { profile: "client", days: 30 });
      writeFileSync(m.certPath, issued.pem);
      made.push({ ...m, certPem: issued.pem });
    }
    for (const row of REFUSED) {
      const m = await makeCsr(ca, row);
      let csrError: unknown;
      await ca.authority.issueFromCsr(readFileSync(m.csrPath), { profile: "client", days: 30 }).catch((e) => {
        csrError = e;
      });
      refused.push({ ...m, certPem: await signWithOpenssl(ca, m), why: row.why, csrError });
    }
    // Issued before the server starts: the registry is loaded with all of them (no wait for a poll).
    server = await startTestServer({ ca });
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  it("covers every curve and the RSA sizes of the table, and every key type keygen makes", function () {
    expect(made.map((m) => m.row.keyType)).to.include.members([
      ...KEY_TYPES.filter((t) => t !== "rsa-3072"),
      "rsa-2048",
    ]);
    expect(made).to.have.length(CURVES.length + RSA_POLICY.testedBits.length);
  });

  for (const row of ACCEPTED) {
    describe(row.keyType, function () {
      const m = (): Made => made.find((x) => x.row.keyType === row.keyType) as Made;

      it("the CA certifies it as this key type; openssl verifies the chain", async function () {
        expect((await vetCsr(readFileSync(m().csrPath))).keyType).to.equal(row.keyType);
        const v = await openssl([
          "verify",
          "-CAfile",
          ca.paths.rootCert,
          "-untrusted",
          ca.paths.intermediateCert,
          m().certPath,
        ]);
        expect(v.code, v.stderr).to.equal(0);
      });

      it("logs in: GET /v1/me 200 with its identity", async function () {
        const r = await curl(`${server.url}/v1/me`, { cacert: ca.paths.rootCert, id: m() });
        expect(r.status, r.body.toString()).to.equal(200);
        expect(json(r).identity).to.equal(m().name);
        expect(json(r).certificates).to.deep.equal([m().certPem]);
      });

      it("a plaintext upload is sealed to it: openssl cms -decrypt opens it, -verify checks the server's signature", async function () {
        const plaintext = `plaintext for ${row.keyType} ${randomBytes(8).toString("hex")}`;
        const put = await curl(`${server.url}/v1/records`, { cacert: ca.paths.rootCert, id: m(), data: plaintext });
        expect(put.status, put.body.toString()).to.equal(201);
        const got = await curl(`${server.url}/v1/records/${json(put).id as string}`, {
          cacert: ca.paths.rootCert,
          id: m(),
        });
        expect(got.status).to.equal(200);
        const envelope = `${m().certPath}.server.der`;
        writeFileSync(envelope, got.body);
        // The server signs what it seals (sign-then-encrypt): decrypt with the user's key, verify against the root.
        const r = await opensslReadRecord({
          envelopeFile: envelope,
          keyPath: m().keyPath,
          certPath: m().certPath,
          rootPath: ca.paths.rootCert,
        });
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout).to.equal(plaintext);
      });

      it("the SDK seals to it (put/get), and openssl decrypts and verifies the signed record", async function () {
        const client = new CertvaultClient({
          server: server.url.replace("127.0.0.1", "localhost"),
          caPem: ca.rootPem,
          certPem: m().certPem,
          key: createPrivateKey(readFileSync(m().keyPath)),
          retries: 0,
        });
        try {
          const plaintext = new TextEncoder().encode(`sdk record for ${row.keyType}`);
          const id = await client.put(plaintext);
          expect(await client.get(id)).to.deep.equal(plaintext);
          const got = await curl(`${server.url}/v1/records/${id}`, { cacert: ca.paths.rootCert, id: m() });
          const envelope = `${m().certPath}.sdk.der`;
          writeFileSync(envelope, got.body);
          const r = await opensslReadRecord({
            envelopeFile: envelope,
            keyPath: m().keyPath,
            certPath: m().certPath,
            rootPath: ca.paths.rootCert,
          });
          expect(r.code, r.stderr).to.equal(0);
          expect(r.stdout).to.equal(`sdk record for ${row.keyType}`);
        } finally {
          client.close();
        }
      });
    });
  }

  for (const row of REFUSED) {
    describe(`${row.keyType} (not in the table)`, function () {
      const m = () => refused.find((x) => x.row.keyType === row.keyType) as (typeof refused)[number];

      it("is refused at the CSR: csr_rejected, naming the key", function () {
        const err = m().csrError as { code?: string; message?: string } | undefined;
        expect(err?.code).to.equal("csr_rejected");
        expect(err?.message).to.match(row.why);
      });

      it("is refused at login by the server: 403 certificate_not_allowed naming the key", async function () {
        const r = await presentCertificate(`${server.url}/v1/me`, ca.rootPem, m());
        expect(r.tlsError === undefined, "reached HTTP").to.equal(row.handshake);
        if (!row.handshake) return;
        expect(r.status, r.body).to.equal(403);
        const body = JSON.parse(r.body) as { error: { code: string; message: string } };
        expect(body.error.code).to.equal("certificate_not_allowed");
        expect(body.error.message).to.match(row.why);
      });

      it("is refused as a recipient: unsupported_key (envelope), untrusted_certificate (SDK), unsealable (registry)", async function () {
        let sealed: unknown;
        try {
          seal(new TextEncoder().encode("x"), [m().certPem]);
        } catch (err) {
          sealed = err;
        }
        expect((sealed as { code?: string }).code).to.equal("unsupported_key");
        expect((sealed as Error).message).to.match(row.why);
        let trusted: unknown;
        await verifyRecipient(m().certPem, sdkAnchors(ca.rootPem + ca.intermediatePem), m().name).catch((e) => {
          trusted = e;
        });
        expect((trusted as { code?: string }).code).to.equal("untrusted_certificate");
        expect((trusted as Error).message).to.match(row.why);
        const x = new X509Certificate(m().certPem);
        const verdict = vetRegistryCertificate(
          {
            serial: normalizeSerial(x.serialNumber),
            identity: m().name,
            fingerprintSha256: x.fingerprint256.replace(/:/g, "").toLowerCase(),
            pem: m().certPem,
          },
          anchorsFromPem(ca.rootPem, ca.intermediatePem),
          new Date(),
        );
        expect(verdict.ok ? "accepted" : `${verdict.kind}: ${verdict.reason}`)
          .to.match(/^unsealable: /)
          .and.match(row.why);
      });
    });
  }

  it("keygen --key-type makes a key the CA certifies as that type, for every key type it offers", async function () {
    const pass = join(ca.home, "keygen.pass");
    writeFileSync(pass, "correct horse battery staple\n", { mode: 0o600 });
    for (const keyType of KEY_TYPES) {
      const out = join(ca.home, `keygen-${keyType}`);
      const r = await runCli([
        "keygen",
        "--name",
        `kg-${keyType}`,
        "--out",
        out,
        "--key-type",
        keyType,
        "--passphrase-file",
        pass,
      ]);
      expect(r.code, r.stderr).to.equal(0);
      expect((await vetCsr(readFileSync(join(out, "request.csr")))).keyType).to.equal(keyType);
    }
    const bad = await runCli([
      "keygen",
      "--name",
      "kg-bad",
      "--out",
      join(ca.home, "kg-bad"),
      "--key-type",
      "ec-secp256k1",
      "--passphrase-file",
      pass,
    ]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/unknown key type "ec-secp256k1"/);
  });
});
