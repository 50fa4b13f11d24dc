/**
 * What only a CA in a PKCS#11 token has, driven through the CLI as an operator would (SoftHSM2, throwaway tokens):
 * a token CA and a file CA issue certificates and CRLs of the very same shape; the PIN (none: exit 2, a wrong one:
 * exit 1); the server signing its TLS certificate and its CRLs through the token. OpenSSL checks every signature.
 * The CA suites themselves (test/ca) run over token keys too, see test/helpers/ca-backend.ts: init (keys sensitive and
 * never extractable, nothing key-like under HOME/ca), issue, revoke, CRL, list. Without SoftHSM2 this is skipped with
 * the reason, except in CI (softHsmRequired), where it fails.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, TempDirs } from "../helpers/cli.js";
import { openssl, opensslOk } from "../helpers/openssl.js";
import { curl } from "../helpers/curl.js";
import { makeCsr } from "../helpers/ca-fixture.js";
import { backendCa } from "../helpers/ca-backend.js";
import type { BackendCa } from "../helpers/ca-backend.js";
import { startServerProcess, stopServerProcess } from "../helpers/server-process.js";
import { makeSoftHsmToken, softHsmOrSkip } from "./softhsm.js";
import type { SoftHsmToken, TokenRef } from "./softhsm.js";

const PASSPHRASE = "a long CA passphrase for the audit key";

/** `openssl x509 -text` with what must differ between two CAs masked: serials, dates, key ids, key and signature bytes. */
function shapeOf(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/^\s+([0-9a-f]{2}:)*[0-9a-f]{2}:?$/.test(l)) // hex dumps: public keys, signatures, serials
    .map((l) =>
      l
        .replace(/(Serial Number:).*/, "$1 *")
        .replace(/(Not (Before|After) ?:|(Last|Next) Update:|Revocation Date:).*/, "$1 *")
        .replace(/^(\s+)(keyid:)?([0-9A-F]{2}:)+[0-9A-F]{2}$/, "$1$2*"),
    )
    .join("\n");
}

describe("a token CA issues the same certificates as a file CA (openssl -text, masked)", function () {
  this.timeout(120_000);
  const tmp = new TempDirs();
  let token: SoftHsmToken;
  let dir: string;
  let passFile: string;

  before(function () {
    token = makeSoftHsmToken(softHsmOrSkip(this), "cv-parity");
    dir = tmp.make();
    passFile = join(dir, "pass");
    writeFileSync(passFile, PASSPHRASE + "\n", { mode: 0o600 });
  });
  after(() => {
    tmp.cleanup();
    token?.cleanup();
  });

  it("root, intermediate, root CRL, client and server certificates and the CRL: same shape, only keys, serials and dates differ", async () => {
    const env = { ...token.env, CERTVAULT_PKCS11_PIN_FILE: token.pinFile };
    const homes = { files: join(dir, "files"), token: join(dir, "token") };
    const tokenArgs = ["--pkcs11-module", token.module, "--pkcs11-token", token.label];
    const csr = join(dir, "bob.csr");
    await opensslOk([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-384",
      "-nodes",
      "-keyout",
      join(dir, "bob.key"),
      "-subj",
      "/CN=bob",
      "-out",
      csr,
    ]);
    const texts: Record<string, string[]> = { files: [], token: [] };
    // The two CAs are independent: side by side, each its init, two certificates and a CRL in turn.
    await Promise.all(
      Object.entries(homes).map(async ([kind, home]) => {
        const init = await runCli(
          [
            "ca",
            "init",
            "--home",
            home,
            "--name",
            "Same",
            "--passphrase-file",
            passFile,
            ...(kind === "token" ? tokenArgs : []),
          ],
          { env },
        );
        expect(init.code, init.stderr).to.equal(0);
        const t = texts[kind] as string[];
        for (const f of ["root.crt", "intermediate.crt"])
          t.push(await opensslOk(["x509", "-in", join(home, "ca", f), "-noout", "-text"]));
        t.push(await opensslOk(["crl", "-in", join(home, "ca", "root.crl"), "-noout", "-text"]));
        for (const [profile, extra] of [
          ["client", []],
          ["server", ["--san", "bob.example", "--san", "10.1.2.3"]],
        ] as const) {
          const out = join(dir, `${kind}-${profile}.crt`);
          const r = await runCli(
            [
              "ca",
              "issue",
              "--home",
              home,
              "--passphrase-file",
              passFile,
              "--csr",
              csr,
              "--profile",
              profile,
              ...extra,
              "--out",
              out,
            ],
            { env },
          );
          expect(r.code, r.stderr).to.equal(0);
          t.push(await opensslOk(["x509", "-in", out, "-noout", "-text"]));
        }
        const crl = join(dir, `${kind}.crl`);
        const r = await runCli(["ca", "crl", "--home", home, "--passphrase-file", passFile, "--out", crl], { env });
        expect(r.code, r.stderr).to.equal(0);
        t.push(await opensslOk(["crl", "-in", crl, "-noout", "-text"]));
      }),
    );
    const files = texts.files as string[];
    const tokenTexts = texts.token as string[];
    expect(tokenTexts.length).to.equal(files.length);
    for (const [i, text] of files.entries()) expect(shapeOf(tokenTexts[i] as string)).to.equal(shapeOf(text));
  });
});

describe("a CA in a PKCS#11 token: the PIN, and the server signing through the token (SoftHSM2)", function () {
  this.timeout(120_000);
  const tmp = new TempDirs();
  let b: BackendCa | undefined;
  let token: TokenRef;
  let dir: string;
  let csr: string;

  before(async function () {
    b = await backendCa(this, "softhsm2", { name: "HSM Test" });
    token = b.token as TokenRef;
    dir = tmp.make();
    csr = (await makeCsr(dir, "ec-p256", "alice")).csr;
  });
  after(async () => {
    tmp.cleanup();
    await b?.ca.cleanup();
  });

  it("ca issue without a PIN: exit 2 and a message naming the PIN options; with a wrong PIN: exit 1", async () => {
    const { h } = b as BackendCa;
    const none = await runCli(["ca", "issue", "--home", h.home, "--csr", csr, "--profile", "client"], { env: h.env });
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include("--pkcs11-pin-file");
    const wrong = await runCli(["ca", "issue", "--home", h.home, "--csr", csr, "--profile", "client"], {
      env: { ...h.env, CERTVAULT_PKCS11_PIN: "not-the-pin" },
    });
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.match(/PIN_INCORRECT|log in/);
    const right = await runCli(["ca", "issue", "--home", h.home, "--csr", csr, "--profile", "client"], {
      env: { ...h.env, CERTVAULT_PKCS11_PIN: token.pin },
    });
    expect(right.code, right.stderr).to.equal(0);
  });

  it("the server (PIN from CERTVAULT_PKCS11_PIN) signs its TLS certificate and its CRL in the token: openssl verifies both", async () => {
    const { ca, h } = b as BackendCa;
    const alice = await ca.issueClient("alice");
    const server = await startServerProcess(ca, { ...h.env, CERTVAULT_PKCS11_PIN: token.pin });
    let crl: Buffer;
    try {
      const r = await curl(`${server.url}/v1/crl`, { cacert: h.paths.rootCert, id: alice });
      expect(r.status, r.stderr).to.equal(200);
      crl = r.body;
    } finally {
      await stopServerProcess(server);
    }
    const v = await openssl([
      "verify",
      "-CAfile",
      h.paths.rootCert,
      "-untrusted",
      h.paths.intermediateCert,
      join(h.home, "server", "server.crt"),
    ]);
    expect(v.code, v.stderr).to.equal(0);
    const crlFile = join(dir, "server.crl");
    writeFileSync(crlFile, crl);
    const c = await openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", h.bundle, "-noout", "-verify"]);
    expect(c.code, c.stderr).to.equal(0);
    expect(c.stdout + c.stderr).to.include("verify OK");
  });
});
