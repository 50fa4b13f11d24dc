/**
 * The safe set of identity names through the commands: `certvault ca issue` refuses a CSR made by `openssl req -utf8`
 * whose CN is outside it (nothing reaches the registry), and `certvault keygen` refuses such a name before it makes
 * a key. A composed (NFC) non-ASCII name goes through, verbatim.
 */
import { expect } from "chai";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { inParallel, runCli } from "../helpers/cli.js";
import { opensslOk } from "../helpers/openssl.js";
import { x509 } from "../../src/x509/x509.js";

const HOSTILE: [string, string][] = [
  ["ali\u202Ece", "RIGHT-TO-LEFT OVERRIDE"],
  ["bob\u200B", "ZERO WIDTH SPACE"],
  ["\u0085x", "C1 NEXT LINE"],
  ["e\u0301", "NFD (e + combining acute)"],
  ["a\u00A0b", "NO-BREAK SPACE"],
];

describe("identity names: ca issue (openssl -utf8 CSRs) and keygen refuse names outside the safe set", function () {
  let ca: TestCA;
  let n = 0;

  before(async function () {
    ca = await createTestCA();
  });
  after(async function () {
    await ca.cleanup();
  });

  /** `openssl req -new -utf8 -subj /CN=...`: the CN as a UTF8String, bytes exactly as given. */
  async function opensslCsr(cn: string): Promise<string> {
    const base = join(ca.home, `csr-${++n}`);
    await opensslOk([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${base}.key`,
      "-utf8",
      "-subj",
      `/CN=${cn}`,
      "-out",
      `${base}.csr`,
    ]);
    // The CSR really carries the hostile CN (openssl did not normalise or drop anything).
    expect(
      new x509.Pkcs10CertificateRequest(readFileSync(`${base}.csr`, "utf8")).subjectName.getField("CN"),
    ).to.deep.equal([cn]);
    return `${base}.csr`;
  }

  async function registrySize(): Promise<number> {
    const r = await runCli(["ca", "list", "--json", ...ca.cliArgs]);
    expect(r.code, r.stderr).to.equal(0);
    return (JSON.parse(r.stdout) as unknown[]).length;
  }

  it("ca issue refuses each hostile CN with exit 1 and a printable reason; the registry is unchanged", async function () {
    const before = await registrySize();
    const csrs = await Promise.all(HOSTILE.map(([cn]) => opensslCsr(cn)));
    const runs = await inParallel(
      csrs.map(
        (csr) => () =>
          runCli([
            "ca",
            "issue",
            ...ca.cliArgs,
            "--passphrase-file",
            ca.passphraseFile,
            "--csr",
            csr,
            "--profile",
            "client",
          ]),
      ),
    );
    runs.forEach((r, i) => {
      const why = HOSTILE[i]?.[1];
      expect(r.code, `${why}: ${r.stderr}`).to.equal(1);
      expect(r.stdout, why).to.equal("");
      expect(r.stderr, why).to.match(/^certvault: CN: the name /);
      expect(r.stderr, why).to.match(/^[\x20-\x7e]+\n$/);
    });
    expect(await registrySize()).to.equal(before);
  });

  it("ca issue accepts a composed non-ASCII CN and the certificate names it verbatim", async function () {
    const name = "\u00e9lodie d\u2019Arc";
    const r = await runCli([
      "ca",
      "issue",
      ...ca.cliArgs,
      "--passphrase-file",
      ca.passphraseFile,
      "--csr",
      await opensslCsr(name),
      "--profile",
      "client",
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(new x509.X509Certificate(r.stdout).subjectName.getField("CN")).to.deep.equal([name]);
  });

  it("keygen refuses each hostile name with exit 1 and writes no key", async function () {
    const passFile = join(ca.home, "user-pass.txt");
    writeFileSync(passFile, "a user's long passphrase\n", { mode: 0o600 });
    const dirs = HOSTILE.map((_h, i) => join(ca.home, `keygen-${i}`));
    const runs = await inParallel(
      HOSTILE.map(
        ([name], i) =>
          () =>
            runCli(["keygen", "--name", name, "--out", dirs[i] as string, "--passphrase-file", passFile]),
      ),
    );
    runs.forEach((r, i) => {
      const why = HOSTILE[i]?.[1];
      expect(r.code, `${why}: ${r.stderr}`).to.equal(1);
      expect(r.stderr, why).to.match(/^certvault: the name /);
      expect(existsSync(join(dirs[i] as string, "key.pem")), why).to.equal(false);
      expect(existsSync(join(dirs[i] as string, "request.csr")), why).to.equal(false);
    });
  });
});
