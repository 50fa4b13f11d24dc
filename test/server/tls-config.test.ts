/**
 * The TLS configuration as a scanner sees it (issue 19), judged by `openssl s_client`: TLS 1.2 and 1.3 only,
 * ECDHE + AEAD suites only in the server's order, no renegotiation, no compression, ticket keys that rotate (and stay
 * rotated across CRL refreshes), HSTS on every answer. Each refusal must come from the server (its alert), not from
 * the client's own policy: old protocols are offered at @SECLEVEL=0. RSA-only suites need an RSA server key, so a
 * second server runs with one.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { constants, webcrypto } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createTestCA, startTestServer, TEST_KDF_ITERATIONS } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { SERVER_SANS } from "../../src/server/tls/server-cert.js";
import { encryptPkcs8 } from "../../src/keys/encrypted-pkcs8.js";
import { generateKeyPair } from "../../src/keys/key-types.js";
import { writeFileAtomic, writeSecretFile } from "../../src/files/secret-file.js";
import { secureContextOptions } from "../../src/server/tls/tls.js";
import { rotateTicketKeys } from "../../src/server/tls/ticket-keys.js";
import { openssl } from "../helpers/openssl.js";
import { runProcess } from "../helpers/cli.js";
import { eventually } from "../helpers/eventually.js";

const REQUEST = "GET /v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/** Where ensureServerCertificate finds the server's key: an RSA-3072 one instead of the default P-256. */
async function provisionRsaServerKey(ca: TestCA): Promise<void> {
  const dir = join(ca.home, "server");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = await generateKeyPair("rsa-3072");
  const issued = await ca.authority.issueForKey({
    publicKey: keys.publicKey,
    commonName: "localhost",
    family: "RSA",
    keyType: "rsa-3072",
    profile: "server",
    days: 30,
    sans: SERVER_SANS,
  });
  const der = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  writeSecretFile(join(dir, "server.key"), encryptPkcs8(der, ca.passphrase, TEST_KDF_ITERATIONS), { overwrite: true });
  writeFileAtomic(join(dir, "server.crt"), issued.pem, { mode: 0o644, overwrite: true });
}

interface Handshake {
  /** "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384" when a session was made, else undefined. */
  negotiated?: string;
  reused: boolean;
  answered: boolean;
  stderr: string;
}

async function sClient(server: TestServer, ca: TestCA, who: TestIdentity, args: string[]): Promise<Handshake> {
  const r = await openssl(
    [
      "s_client",
      "-connect",
      `127.0.0.1:${server.port}`,
      "-servername",
      "localhost",
      "-CAfile",
      ca.paths.rootCert,
      "-cert",
      who.certPath,
      "-key",
      who.keyPath,
      "-ign_eof",
      ...args,
    ],
    { input: REQUEST },
  );
  const m = /^(New|Reused), (TLSv1\.[0-3]|SSLv3), Cipher is (\S+)/m.exec(r.stdout);
  return {
    ...(m && m[3] !== "(NONE)" ? { negotiated: `${m[2]} ${m[3]}` } : {}),
    reused: m?.[1] === "Reused",
    answered: /HTTP\/1\.1 200 /.test(r.stdout),
    stderr: r.stderr,
  };
}

describe("server: TLS configuration (openssl s_client)", function () {
  let ca: TestCA;
  let ec: TestServer;
  let rsa: TestServer;
  let rsaCa: TestCA;
  let alice: TestIdentity;
  let rsaAlice: TestIdentity;

  before(async function () {
    ca = await createTestCA();
    ec = await startTestServer({ ca });
    alice = await ca.issueClient("alice");
    rsaCa = await createTestCA({ keyType: "rsa-3072" });
    await provisionRsaServerKey(rsaCa);
    rsa = await startTestServer({ ca: rsaCa });
    rsaAlice = await rsaCa.issueClient("alice");
  });
  after(async function () {
    await ec.stop();
    await rsa.stop();
    await ca.cleanup();
    await rsaCa.cleanup();
  });

  const accepted: [string, string[], string][] = [
    [
      "TLS 1.3 TLS_AES_256_GCM_SHA384",
      ["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"],
      "TLSv1.3 TLS_AES_256_GCM_SHA384",
    ],
    [
      "TLS 1.3 TLS_AES_128_GCM_SHA256",
      ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"],
      "TLSv1.3 TLS_AES_128_GCM_SHA256",
    ],
    [
      "TLS 1.3 TLS_CHACHA20_POLY1305_SHA256",
      ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
      "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256",
    ],
    [
      "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256",
      ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
      "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256",
    ],
    [
      "TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384",
      ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
      "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384",
    ],
    [
      "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305",
      ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
      "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305",
    ],
  ];
  for (const [label, args, expected] of accepted) {
    it(`accepts ${label} and answers over it`, async function () {
      const h = await sClient(ec, ca, alice, args);
      expect(h.negotiated, h.stderr).to.equal(expected);
      expect(h.answered).to.equal(true);
    });
  }

  const refused: [string, string[], RegExp][] = [
    ["TLS 1.0", ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"], /alert protocol version/],
    ["TLS 1.1", ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], /alert protocol version/],
    [
      "TLS 1.2 CBC ECDHE-ECDSA-AES128-SHA256",
      ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"],
      /alert handshake failure/,
    ],
    [
      "TLS 1.2 CBC ECDHE-ECDSA-AES256-SHA",
      ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"],
      /alert handshake failure/,
    ],
    [
      "TLS 1.3 TLS_AES_128_CCM_SHA256 (not in Mozilla's lists)",
      ["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"],
      /alert handshake failure/,
    ],
  ];
  for (const [label, args, alert] of refused) {
    it(`refuses ${label} with the server's alert`, async function () {
      const h = await sClient(ec, ca, alice, args);
      expect(h.negotiated).to.equal(undefined);
      expect(h.answered).to.equal(false);
      expect(h.stderr).to.match(alert);
    });
  }

  describe("with an RSA server key", function () {
    it("accepts TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 (so the refusals below are the configuration's)", async function () {
      const h = await sClient(rsa, rsaCa, rsaAlice, ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]);
      expect(h.negotiated, h.stderr).to.equal("TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256");
      expect(h.answered).to.equal(true);
    });
    for (const suite of [
      "AES128-GCM-SHA256",
      "AES256-GCM-SHA384",
      "DHE-RSA-AES128-GCM-SHA256",
      "ECDHE-RSA-AES128-SHA",
      "ECDHE-RSA-AES256-SHA384",
    ]) {
      it(`refuses TLS 1.2 ${suite} (RSA key exchange, finite-field DHE or CBC)`, async function () {
        const h = await sClient(rsa, rsaCa, rsaAlice, ["-tls1_2", "-cipher", `${suite}:@SECLEVEL=0`]);
        expect(h.negotiated).to.equal(undefined);
        expect(h.stderr).to.match(/alert handshake failure/);
      });
    }
  });

  it("picks its own order, not the client's (TLS 1.2 and 1.3)", async function () {
    const h12 = await sClient(ec, ca, alice, [
      "-tls1_2",
      "-cipher",
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
    ]);
    expect(h12.negotiated).to.equal("TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384");
    const h13 = await sClient(ec, ca, alice, [
      "-tls1_3",
      "-ciphersuites",
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
    ]);
    expect(h13.negotiated).to.equal("TLSv1.3 TLS_AES_256_GCM_SHA384");
  });

  it("no compression: s_client reports none, and the option is set whatever the OpenSSL build", async function () {
    // Debian's OpenSSL client cannot offer zlib either, so the wire check alone could not fail: the option is checked too.
    const h = await openssl(
      [
        "s_client",
        "-connect",
        `127.0.0.1:${ec.port}`,
        "-servername",
        "localhost",
        "-CAfile",
        ca.paths.rootCert,
        "-cert",
        alice.certPath,
        "-key",
        alice.keyPath,
        "-comp",
        "-ign_eof",
      ],
      { input: REQUEST },
    );
    expect(h.stdout).to.match(/^Compression: NONE$/m);
    const opts = secureContextOptions({ key: "", cert: "", ca: "", crl: [] }).secureOptions ?? 0;
    expect(opts & constants.SSL_OP_NO_COMPRESSION).to.not.equal(0);
  });

  /** s_client's "R" command (client-initiated renegotiation), over TLS 1.2: did the server go along with it? */
  function renegotiate(extra: string[]): Promise<{ outcome: "refused" | "renegotiated" | "closed"; output: string }> {
    const args = [
      "s_client",
      "-connect",
      `127.0.0.1:${ec.port}`,
      "-servername",
      "localhost",
      "-CAfile",
      ca.paths.rootCert,
      "-cert",
      alice.certPath,
      "-key",
      alice.keyPath,
      "-tls1_2",
      ...extra,
    ];
    const child = spawn("openssl", args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
    let output = "";
    const stop = (): void => {
      try {
        if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    return new Promise((resolve, reject) => {
      const finish = (outcome: "refused" | "renegotiated" | "closed"): void => {
        clearTimeout(timer);
        stop();
        resolve({ outcome, output });
      };
      const judge = (b: Buffer): void => {
        output += b.toString();
        if (/no renegotiation|alert/.test(output)) finish("refused");
        // Each handshake verifies the chain (3 lines); a second set means the renegotiation completed.
        else if ((output.match(/verify return:1/g) ?? []).length >= 6) finish("renegotiated");
      };
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`no outcome within 15 s: ${output}`));
      }, 15_000);
      child.stdout.on("data", judge);
      child.stderr.on("data", judge);
      child.once("close", () => finish("closed"));
      child.stdin.write("R\n");
    });
  }

  for (const extra of [[], ["-legacy_renegotiation"]]) {
    it(`refuses client-initiated renegotiation (s_client R${extra.length ? " " + extra.join(" ") : ""})`, async function () {
      const r = await renegotiate(extra);
      expect(r.output).to.match(/RENEGOTIATING/);
      expect(r.outcome, r.output).to.equal("refused");
      expect(r.output).to.match(/no renegotiation/);
    });
  }

  it("rotates session-ticket keys: an old ticket stops resuming, a new one resumes, and a CRL refresh keeps the new key", async function () {
    let tick: (() => void) | undefined;
    const rotation = rotateTicketKeys(ec.running.server, {
      schedule: (_ms, fn) => ((tick = fn), () => (tick = undefined)),
    });
    const dir = join(ca.home, "sessions");
    mkdirSync(dir, { recursive: true });
    const resume = (file: string, out?: string): Promise<Handshake> =>
      sClient(
        ec,
        ca,
        alice,
        ["-tls1_2", "-no_ticket", "-sess_in", file, ...(out ? ["-sess_out", out] : [])].filter(
          (a) => a !== "-no_ticket",
        ),
      );
    const save = (file: string): Promise<Handshake> => sClient(ec, ca, alice, ["-tls1_2", "-sess_out", file]);
    try {
      const before = join(dir, "before.pem");
      expect((await save(before)).answered).to.equal(true);
      expect((await resume(before)).reused, "resumes before any rotation").to.equal(true);
      tick?.();
      expect((await resume(before)).reused, "an old ticket after a rotation").to.equal(false);
      const after = join(dir, "after.pem");
      await save(after);
      expect((await resume(after)).reused, "a ticket made after the rotation").to.equal(true);
      // A revocation makes the server issue a CRL and rebuild its TLS context with it (in the same step as the CRL
      // that GET /v1/crl serves): awaited by polling that CRL until it lists the serial.
      const mallory = await ca.issueClient("mallory");
      await ca.revoke(mallory);
      const crlFile = join(dir, "crl.der");
      const listsMallory = async (): Promise<boolean> => {
        await runProcess(
          "curl",
          [
            "-sS",
            "--cacert",
            ca.paths.rootCert,
            "--cert",
            alice.certPath,
            "--key",
            alice.keyPath,
            "-o",
            crlFile,
            `${ec.url}/v1/crl`,
          ],
          { timeoutMs: 30_000 },
        );
        const text = await openssl(["crl", "-inform", "DER", "-in", crlFile, "-noout", "-text"]);
        return text.stdout.toLowerCase().includes(`serial number: ${mallory.serial}`);
      };
      await eventually(listsMallory, { what: "the server's CRL to list mallory" });
      expect(await listsMallory(), "the server's CRL lists the revoked serial").to.equal(true);
      expect((await resume(after)).reused, "the rotated key survived the CRL refresh").to.equal(true);
      expect((await resume(before)).reused, "the original key did not come back").to.equal(false);
    } finally {
      rotation.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sends Strict-Transport-Security on success and on error answers (400, 403, 404)", async function () {
    for (const [method, path, status] of [
      ["GET", "/v1/me", 200],
      ["GET", "/v1/no-such-endpoint", 404],
      ["GET", "/v1/records/not-an-id", 400],
      ["GET", "/metrics", 403],
    ] as const) {
      const r = await runProcess(
        "curl",
        [
          "-sS",
          "-X",
          method,
          "--cacert",
          ca.paths.rootCert,
          "--cert",
          alice.certPath,
          "--key",
          alice.keyPath,
          "-o",
          "/dev/null",
          "-D",
          "-",
          `${ec.url}${path}`,
        ],
        { timeoutMs: 30_000 },
      );
      expect(r.stdout, `${method} ${path}`).to.match(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(r.stdout, `${method} ${path}`).to.match(/^strict-transport-security: max-age=31536000\r$/im);
    }
  });
});
