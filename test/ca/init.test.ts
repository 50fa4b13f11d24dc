/**
 * `certvault ca init` through the CLI, for each key type and each key backend (test/helpers/ca-backend.ts), checked
 * with openssl: the files under HOME/ca, how the keys are kept (init-keys.ts: encrypted files, or in the token), CA
 * extensions, the root's CRL, the chain, and a first certificate issued with the new keys.
 */
import { expect } from "chai";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inParallel, runCli, TempDirs } from "../helpers/cli.js";
import type { RunResult } from "../helpers/cli.js";
import { extensionBlock, openssl, opensslOk, x509Text } from "../helpers/openssl.js";
import { certDates, makeCsr, TEST_PASSPHRASE } from "../helpers/ca-fixture.js";
import { BACKENDS, CA_FILES, keysIn, tokenFor, tokenInitArgs } from "../helpers/ca-backend.js";
import { keyTypeGap, skipBecause } from "../hsm/softhsm.js";
import type { TokenRef } from "../hsm/softhsm.js";
import { fileKeyTests, tokenKeyTests } from "./init-keys.js";
import type { InitRun } from "./init-keys.js";

// ec-p384 takes its secrets from the environment: CERTVAULT_PASSPHRASE (and CERTVAULT_PKCS11_PIN_FILE for a token).
const CASES = [
  { keyType: "ec-p256", args: [] as string[], viaEnv: false, sigAlg: "ecdsa-with-SHA256", pub: "id-ecPublicKey" },
  {
    keyType: "ec-p384",
    args: ["--key-type", "ec-p384"],
    viaEnv: true,
    sigAlg: "ecdsa-with-SHA384",
    pub: "id-ecPublicKey",
  },
  {
    keyType: "ec-p521",
    args: ["--key-type", "ec-p521"],
    viaEnv: false,
    sigAlg: "ecdsa-with-SHA512",
    pub: "id-ecPublicKey",
  },
  {
    keyType: "rsa-3072",
    args: ["--key-type", "rsa-3072"],
    viaEnv: false,
    sigAlg: "sha256WithRSAEncryption",
    pub: "rsaEncryption",
  },
] as const;
type Case = (typeof CASES)[number];

/** The secrets a CLI call of this case takes: passphrase, and for a token its PIN (as files or env) and SOFTHSM2_CONF. */
function secrets(
  c: Case,
  passFile: string,
  token: TokenRef | undefined,
): { args: string[]; env: Record<string, string> } {
  if (c.viaEnv)
    return {
      args: [],
      env: {
        ...token?.env,
        CERTVAULT_PASSPHRASE: TEST_PASSPHRASE,
        ...(token && { CERTVAULT_PKCS11_PIN_FILE: token.pinFile }),
      },
    };
  return {
    args: ["--passphrase-file", passFile, ...(token ? ["--pkcs11-pin-file", token.pinFile] : [])],
    env: { ...token?.env },
  };
}

function keyIdOf(text: string, title: string): string {
  const block = extensionBlock(text, title);
  expect(block, `${title} present`).to.not.equal(undefined);
  return (block?.value ?? "").replace(/^keyid:/, "").split("\n")[0] as string;
}

for (const backend of BACKENDS)
  describe(`ca init (CLI, checked with openssl) ${keysIn(backend)}`, function () {
    this.timeout(60_000);
    const tmp = new TempDirs();
    after(() => tmp.cleanup());
    const runs = new Map<string, InitRun>();
    /** Key types this backend's token cannot make, and why. */
    const gaps = new Map<string, string>();

    // The three inits are independent and CPU-bound (key generation, PBKDF2): run them side by side.
    before(async function () {
      const todo: (() => Promise<void>)[] = [];
      for (const c of CASES) {
        const token = await tokenFor(this, backend); // one token per CA
        const gap = token && keyTypeGap(token, c.keyType);
        if (gap) {
          gaps.set(c.keyType, gap);
          continue;
        }
        const dir = tmp.make();
        const passFile = join(dir, "pass.txt");
        writeFileSync(passFile, TEST_PASSPHRASE + "\n");
        const { args, env } = secrets(c, passFile, token);
        const keys = token ? tokenInitArgs(token, c.viaEnv) : [];
        todo.push(async () => {
          const init = await runCli(
            ["ca", "init", "--home", join(dir, "home"), "--name", "Acme Test", ...c.args, ...args, ...keys],
            { env },
          );
          runs.set(c.keyType, { dir, caDir: join(dir, "home", "ca"), passFile, init, ...(token ? { token } : {}) });
        });
      }
      await inParallel(todo);
    });

    for (const c of CASES) {
      describe(`--key-type ${c.keyType}${c.viaEnv ? (backend === "file" ? " (passphrase from CERTVAULT_PASSPHRASE)" : " (passphrase and PIN from CERTVAULT_PASSPHRASE, CERTVAULT_PKCS11_PIN_FILE)") : ""}`, () => {
        let dir: string;
        let caDir: string;
        let init: RunResult;
        let rootText: string;
        let intText: string;
        const run = (): InitRun => runs.get(c.keyType) as InitRun;

        before(async function () {
          const gap = gaps.get(c.keyType);
          if (gap) skipBecause(this, gap);
          ({ dir, caDir, init } = run());
          if (init.code === 0) {
            rootText = await x509Text(join(caDir, "root.crt"));
            intText = await x509Text(join(caDir, "intermediate.crt"));
          }
        });

        it(`exits 0 and creates exactly ${CA_FILES[backend].join(", ")} in HOME/ca`, () => {
          expect(init.code, init.stderr).to.equal(0);
          expect(readdirSync(caDir).sort()).to.deep.equal(CA_FILES[backend]);
        });

        if (backend === "file") fileKeyTests(run);
        else tokenKeyTests(run);

        it("makes a self-signed root: CA:TRUE pathlen:1 (critical), keyCertSign + cRLSign (critical), no EKU", async () => {
          expect(rootText)
            .to.match(/Issuer: CN = Acme Test Root CA\n/)
            .and.match(/Subject: CN = Acme Test Root CA\n/);
          expect(rootText).to.include(`Public Key Algorithm: ${c.pub}`).and.include(`Signature Algorithm: ${c.sigAlg}`);
          expect(extensionBlock(rootText, "X509v3 Basic Constraints")).to.deep.equal({
            critical: true,
            value: "CA:TRUE, pathlen:1",
          });
          expect(extensionBlock(rootText, "X509v3 Key Usage")).to.deep.equal({
            critical: true,
            value: "Certificate Sign, CRL Sign",
          });
          expect(extensionBlock(rootText, "X509v3 Extended Key Usage")).to.equal(undefined);
          const root = join(caDir, "root.crt");
          expect((await openssl(["verify", "-CAfile", root, root])).code).to.equal(0);
        });

        it("makes an intermediate: CA:TRUE pathlen:0 (critical), keyCertSign + cRLSign, AKI = root SKI, inside the root's validity", async () => {
          expect(intText)
            .to.match(/Issuer: CN = Acme Test Root CA\n/)
            .and.match(/Subject: CN = Acme Test Issuing CA\n/);
          expect(extensionBlock(intText, "X509v3 Basic Constraints")).to.deep.equal({
            critical: true,
            value: "CA:TRUE, pathlen:0",
          });
          expect(extensionBlock(intText, "X509v3 Key Usage")).to.deep.equal({
            critical: true,
            value: "Certificate Sign, CRL Sign",
          });
          expect(keyIdOf(intText, "X509v3 Authority Key Identifier")).to.equal(
            keyIdOf(rootText, "X509v3 Subject Key Identifier"),
          );
          const r = await certDates(join(caDir, "root.crt"));
          const i = await certDates(join(caDir, "intermediate.crt"));
          expect(i.notAfter.getTime()).to.be.at.most(r.notAfter.getTime());
          expect(i.notBefore.getTime()).to.be.at.most(Date.now());
        });

        it("writes the root's CRL: empty, signed by the root key (openssl crl -verify), valid as long as the intermediate", async () => {
          const crl = join(caDir, "root.crl");
          const v = await openssl(["crl", "-in", crl, "-CAfile", join(caDir, "root.crt"), "-noout", "-verify"]);
          expect(v.code, v.stderr).to.equal(0);
          expect(v.stdout + v.stderr).to.include("verify OK");
          const text = await opensslOk(["crl", "-in", crl, "-noout", "-text"]);
          expect(text)
            .to.include("No Revoked Certificates")
            .and.match(/Issuer: CN = Acme Test Root CA\n/);
          const next = new Date(/Next Update: (.+)/.exec(text)?.[1] ?? "");
          expect(
            Math.abs(next.getTime() - (await certDates(join(caDir, "intermediate.crt"))).notAfter.getTime()),
          ).to.be.below(86_400_000 + 60_000);
        });

        it("passes openssl verify -CAfile root.crt intermediate.crt", async () => {
          const v = await openssl(["verify", "-CAfile", join(caDir, "root.crt"), join(caDir, "intermediate.crt")]);
          expect(v.code, v.stderr).to.equal(0);
          expect(v.stdout).to.match(/intermediate\.crt: OK/);
        });

        it("issues a client certificate that openssl verifies up to the root", async () => {
          const { csr } = await makeCsr(dir, "ec-p256", "carol");
          const out = join(dir, "carol.crt");
          const { args, env } = secrets(c, run().passFile, run().token);
          const r = await runCli(
            ["ca", "issue", "--home", join(dir, "home"), ...args, "--csr", csr, "--profile", "client", "--out", out],
            { env },
          );
          expect(r.code, r.stderr).to.equal(0);
          const v = await openssl([
            "verify",
            "-CAfile",
            join(caDir, "root.crt"),
            "-untrusted",
            join(caDir, "intermediate.crt"),
            out,
          ]);
          expect(v.code, v.stderr).to.equal(0);
          expect(await x509Text(out)).to.include(`Signature Algorithm: ${c.sigAlg}`);
        });
      });
    }
  });
