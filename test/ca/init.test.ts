/**
 * `certvault ca init` through the CLI, for each key type, checked with openssl: the four files, encrypted keys that
 * openssl opens with the passphrase only (PBES2, PBKDF2-HMAC-SHA256 >= 600k, AES-256-CBC), CA extensions, the chain.
 */
import { expect } from "chai";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inParallel, runCli, TempDirs } from "../helpers/cli.js";
import type { RunResult } from "../helpers/cli.js";
import { extensionBlock, openssl, opensslOk, x509Text } from "../helpers/openssl.js";
import { certDates, makeCsr, TEST_PASSPHRASE } from "../helpers/ca-fixture.js";

const FILES = ["root.crt", "root.key", "intermediate.crt", "intermediate.key"] as const;

const CASES = [
  { keyType: "ec-p256", args: [] as string[], viaEnv: false, sigAlg: "ecdsa-with-SHA256", pub: "id-ecPublicKey" },
  { keyType: "ec-p384", args: ["--key-type", "ec-p384"], viaEnv: true, sigAlg: "ecdsa-with-SHA384", pub: "id-ecPublicKey" },
  { keyType: "rsa-3072", args: ["--key-type", "rsa-3072"], viaEnv: false, sigAlg: "sha256WithRSAEncryption", pub: "rsaEncryption" },
];

function keyIdOf(text: string, title: string): string {
  const block = extensionBlock(text, title);
  expect(block, `${title} present`).to.not.equal(undefined);
  return (block?.value ?? "").replace(/^keyid:/, "").split("\n")[0] as string;
}

describe("ca init (CLI, checked with openssl)", function () {
  this.timeout(60_000);
  const tmp = new TempDirs();
  after(() => tmp.cleanup());
  const dirs = new Map<string, string>();
  const inits = new Map<string, RunResult>();

  // The three inits are independent and CPU-bound (key generation, PBKDF2): run them side by side.
  before(async () => {
    const results = await inParallel(
      CASES.map((c) => async () => {
        const dir = tmp.make();
        dirs.set(c.keyType, dir);
        const passFile = join(dir, "pass.txt");
        writeFileSync(passFile, TEST_PASSPHRASE + "\n");
        const home = ["--home", join(dir, "home"), "--name", "Acme Test"];
        return c.viaEnv
          ? runCli(["ca", "init", ...home, ...c.args], { env: { CERTVAULT_PASSPHRASE: TEST_PASSPHRASE } })
          : runCli(["ca", "init", ...home, ...c.args, "--passphrase-file", passFile]);
      }),
    );
    CASES.forEach((c, i) => inits.set(c.keyType, results[i] as RunResult));
  });

  for (const c of CASES) {
    describe(`--key-type ${c.keyType}${c.viaEnv ? " (passphrase from CERTVAULT_PASSPHRASE)" : ""}`, () => {
      let dir: string;
      let caDir: string;
      let passFile: string;
      let init: RunResult;
      let rootText: string;
      let intText: string;

      before(async () => {
        dir = dirs.get(c.keyType) as string;
        caDir = join(dir, "home", "ca");
        passFile = join(dir, "pass.txt");
        init = inits.get(c.keyType) as RunResult;
        if (init.code === 0) {
          rootText = await x509Text(join(caDir, "root.crt"));
          intText = await x509Text(join(caDir, "intermediate.crt"));
        }
      });

      it("exits 0 and creates root.crt, root.key, intermediate.crt, intermediate.key", () => {
        expect(init.code, init.stderr).to.equal(0);
        for (const f of FILES) expect(existsSync(join(caDir, f)), f).to.equal(true);
      });

      it("writes the keys as ENCRYPTED PRIVATE KEY PEM with mode 0600", () => {
        for (const f of ["root.key", "intermediate.key"]) {
          expect(statSync(join(caDir, f)).mode & 0o777, f).to.equal(0o600);
          expect(readFileSync(join(caDir, f), "utf8").startsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), f).to.equal(true);
        }
      });

      it("lets openssl open each key with the passphrase, and only with it; the key matches its certificate", async () => {
        // Each attempt costs a full PBKDF2 run in openssl: run them side by side, wrong guesses on one key only.
        const key = (name: string) => join(caDir, `${name}.key`);
        const [rootOk, intOk, rootNone, intNone, empty, wrong] = await inParallel([
          () => openssl(["pkey", "-in", key("root"), "-passin", `file:${passFile}`, "-pubout"]),
          () => openssl(["pkey", "-in", key("intermediate"), "-passin", `file:${passFile}`, "-pubout"]),
          () => openssl(["pkey", "-in", key("root"), "-noout"]),
          () => openssl(["pkey", "-in", key("intermediate"), "-noout"]),
          () => openssl(["pkey", "-in", key("intermediate"), "-passin", "pass:", "-noout"]),
          () => openssl(["pkey", "-in", key("intermediate"), "-passin", `pass:${TEST_PASSPHRASE}x`, "-noout"]),
        ]);
        for (const [name, ok] of [["root", rootOk], ["intermediate", intOk]] as const) {
          expect(ok?.code, ok?.stderr).to.equal(0);
          expect(ok?.stdout, `${name}.key matches ${name}.crt`).to.equal(await opensslOk(["x509", "-in", join(caDir, `${name}.crt`), "-noout", "-pubkey"]));
        }
        expect(rootNone?.code, "root, no passphrase").to.not.equal(0);
        expect(intNone?.code, "intermediate, no passphrase").to.not.equal(0);
        expect(empty?.code, "empty passphrase").to.not.equal(0);
        expect(wrong?.code, "wrong passphrase").to.not.equal(0);
      });

      it("encrypts with PBES2 / PBKDF2 hmacWithSHA256 (>= 600,000 iterations) / aes-256-cbc", async () => {
        for (const name of ["root", "intermediate"]) {
          const asn = await opensslOk(["asn1parse", "-in", join(caDir, `${name}.key`)]);
          for (const oid of [":PBES2", ":PBKDF2", ":hmacWithSHA256", ":aes-256-cbc"]) expect(asn, `${name} ${oid}`).to.include(oid);
          const iterations = /prim: INTEGER\s+:([0-9A-F]+)/.exec(asn)?.[1];
          expect(iterations, "iteration count").to.be.a("string");
          expect(parseInt(iterations as string, 16)).to.be.at.least(600_000);
        }
      });

      it("makes a self-signed root: CA:TRUE pathlen:1 (critical), keyCertSign + cRLSign (critical), no EKU", async () => {
        expect(rootText).to.match(/Issuer: CN = Acme Test Root CA\n/).and.match(/Subject: CN = Acme Test Root CA\n/);
        expect(rootText).to.include(`Public Key Algorithm: ${c.pub}`).and.include(`Signature Algorithm: ${c.sigAlg}`);
        expect(extensionBlock(rootText, "X509v3 Basic Constraints")).to.deep.equal({ critical: true, value: "CA:TRUE, pathlen:1" });
        expect(extensionBlock(rootText, "X509v3 Key Usage")).to.deep.equal({ critical: true, value: "Certificate Sign, CRL Sign" });
        expect(extensionBlock(rootText, "X509v3 Extended Key Usage")).to.equal(undefined);
        const root = join(caDir, "root.crt");
        expect((await openssl(["verify", "-CAfile", root, root])).code).to.equal(0);
      });

      it("makes an intermediate: CA:TRUE pathlen:0 (critical), keyCertSign + cRLSign, AKI = root SKI, inside the root's validity", async () => {
        expect(intText).to.match(/Issuer: CN = Acme Test Root CA\n/).and.match(/Subject: CN = Acme Test Issuing CA\n/);
        expect(extensionBlock(intText, "X509v3 Basic Constraints")).to.deep.equal({ critical: true, value: "CA:TRUE, pathlen:0" });
        expect(extensionBlock(intText, "X509v3 Key Usage")).to.deep.equal({ critical: true, value: "Certificate Sign, CRL Sign" });
        expect(keyIdOf(intText, "X509v3 Authority Key Identifier")).to.equal(keyIdOf(rootText, "X509v3 Subject Key Identifier"));
        const r = await certDates(join(caDir, "root.crt"));
        const i = await certDates(join(caDir, "intermediate.crt"));
        expect(i.notAfter.getTime()).to.be.at.most(r.notAfter.getTime());
        expect(i.notBefore.getTime()).to.be.at.most(Date.now());
      });

      it("passes openssl verify -CAfile root.crt intermediate.crt", async () => {
        const v = await openssl(["verify", "-CAfile", join(caDir, "root.crt"), join(caDir, "intermediate.crt")]);
        expect(v.code, v.stderr).to.equal(0);
        expect(v.stdout).to.match(/intermediate\.crt: OK/);
      });

      it("issues a client certificate that openssl verifies up to the root", async () => {
        const { csr } = await makeCsr(dir, "ec-p256", "carol");
        const out = join(dir, "carol.crt");
        const env = c.viaEnv ? { CERTVAULT_PASSPHRASE: TEST_PASSPHRASE } : {};
        const pass = c.viaEnv ? [] : ["--passphrase-file", passFile];
        const r = await runCli(["ca", "issue", "--home", join(dir, "home"), ...pass, "--csr", csr, "--profile", "client", "--out", out], { env });
        expect(r.code, r.stderr).to.equal(0);
        const v = await openssl(["verify", "-CAfile", join(caDir, "root.crt"), "-untrusted", join(caDir, "intermediate.crt"), out]);
        expect(v.code, v.stderr).to.equal(0);
        expect(await x509Text(out)).to.include(`Signature Algorithm: ${c.sigAlg}`);
      });
    });
  }
});
