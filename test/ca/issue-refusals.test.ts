/**
 * `certvault ca issue` refusals: bad CSRs are refused with exit 1 and a reason, usage errors exit 2, and nothing at all
 * reaches the registry (counted with the sqlite3 CLI, and with `ca list --json`). The CLI runs are independent, so
 * they run a few at a time in the before hook; each test then checks one of them.
 */
import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { inParallel, runCli, TempDirs } from "../helpers/cli.js";
import type { RunResult } from "../helpers/cli.js";
import { openssl } from "../helpers/openssl.js";
import type { TestCA } from "../../src/testing/index.js";
import { breakCsrSignature, makeCsr, pemToDer, registryCount } from "../helpers/ca-fixture.js";
import type { CaHome } from "../helpers/ca-fixture.js";
import { backendCa, BACKENDS, keysIn } from "../helpers/ca-backend.js";
import { vetCsr } from "../../src/ca/csr.js";
import { CsrRejectedError } from "../../src/errors/index.js";

interface Case {
  name: string;
  /** Makes the input in `dir` and returns the `ca issue` arguments (after the --home/--passphrase-file ones). */
  args: (dir: string, goodCsr: string) => Promise<string[]>;
  code: 1 | 2;
  message: RegExp;
}

const csrArgs = (csr: string, profile = "client") => ["--csr", csr, "--profile", profile];
const fileArgs = (dir: string, name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return csrArgs(join(dir, name));
};

const CASES: Case[] = [
  {
    name: "a CSR whose signature does not verify (one byte flipped in the signature BIT STRING)",
    code: 1,
    message: /signature does not verify/,
    args: async (dir, good) => fileArgs(dir, "badsig.csr", breakCsrSignature(readFileSync(good, "utf8"))),
  },
  {
    name: "an RSA-1024 key",
    code: 1,
    message: /RSA-1024 is below the minimum of 2048/,
    args: async (dir) => csrArgs((await makeCsr(dir, "rsa-1024", "weak")).csr),
  },
  {
    name: "a secp256k1 key",
    code: 1,
    message: /unsupported EC curve secp256k1/,
    args: async (dir) => csrArgs((await makeCsr(dir, "secp256k1", "koblitz")).csr),
  },
  {
    name: "an EC key with explicit curve parameters (spelling P-256)",
    code: 1,
    message: /explicit curve parameters/,
    args: async (dir) => csrArgs((await makeCsr(dir, "ec-explicit", "explicit")).csr),
  },
  {
    name: "a CSR signed with SHA-1",
    code: 1,
    message: /unaccepted algorithm/,
    args: async (dir) => csrArgs((await makeCsr(dir, "ec-p256", "sha1", ["-sha1"])).csr),
  },
  {
    name: "random bytes",
    code: 1,
    message: /malformed CSR/,
    args: async (dir) => fileArgs(dir, "random.csr", randomBytes(600)),
  },
  {
    name: "a valid DER CSR followed by extra bytes",
    code: 1,
    message: /extra data after the certificate request/,
    args: async (dir, good) =>
      fileArgs(dir, "trailing.csr", Buffer.concat([pemToDer(readFileSync(good, "utf8")), Buffer.from("trailing")])),
  },
  {
    name: "an empty file",
    code: 1,
    message: /malformed CSR: the input is empty/,
    args: async (dir) => fileArgs(dir, "empty.csr", ""),
  },
  {
    name: "usage: an unknown profile",
    code: 2,
    message: /--profile must be one of client, server/,
    args: async (_d, good) => csrArgs(good, "admin"),
  },
  { name: "usage: a missing --csr", code: 2, message: /--csr is required/, args: async () => ["--profile", "client"] },
  {
    name: "usage: a CSR file that does not exist",
    code: 2,
    message: /cannot read the CSR file/,
    args: async (dir) => csrArgs(join(dir, "nope.csr")),
  },
  {
    name: "usage: --days 0",
    code: 2,
    message: /--days must be a whole number/,
    args: async (_d, good) => [...csrArgs(good), "--days", "0"],
  },
  {
    name: "usage: a --san that is neither a name nor an address",
    code: 2,
    message: /neither a DNS name nor an IP address/,
    args: async (_d, good) => [...csrArgs(good, "server"), "--san", "1.2.3.4:443"],
  },
];

for (const backend of BACKENDS)
  describe(`ca issue: refusals leave the registry untouched ${keysIn(backend)}`, function () {
    this.timeout(60_000);
    const tmp = new TempDirs();
    let testCa: TestCA | undefined;
    let h: CaHome;
    let dir: string;
    let goodCsr: string;
    let results: RunResult[];

    before(async function () {
      dir = tmp.make();
      ({ ca: testCa, h } = await backendCa(this, backend, { name: "Test" }));
      goodCsr = (await makeCsr(dir, "ec-p256", "good")).csr;
      const argv: string[][] = [];
      for (const c of CASES) argv.push(await c.args(dir, goodCsr));
      results = await inParallel(argv.map((a) => () => runCli(["ca", "issue", ...h.args, ...a], { env: h.env })));
    });
    after(async () => {
      tmp.cleanup();
      await testCa?.cleanup();
    });

    CASES.forEach((c, i) => {
      it(`${c.name}: exit ${c.code}, a reason on stderr, nothing on stdout`, () => {
        const r = results[i] as RunResult;
        expect(r.code, r.stderr).to.equal(c.code);
        expect(r.stderr).to.match(c.message);
        expect(r.stdout).to.equal("");
      });
    });

    it("openssl agrees that the tampered CSR's signature is bad (req -verify exits 0 either way: read its output)", async () => {
      const peer = await openssl(["req", "-in", join(dir, "badsig.csr"), "-verify", "-noout"]);
      expect(peer.stdout + peer.stderr).to.not.match(/verify OK/);
      expect(peer.stdout + peer.stderr).to.match(/verify failure/);
      const sane = await openssl(["req", "-in", goodCsr, "-verify", "-noout"]);
      expect(sane.stdout + sane.stderr).to.match(/verify OK/);
    });

    it("nothing was written: sqlite3 counts 0 rows and `ca list --json` is []; a good CSR then makes exactly one row", async () => {
      expect(await registryCount(h.dbFile)).to.equal(0);
      const empty = await runCli(["ca", "list", "--json", "--home", h.home], { env: h.env });
      expect(empty.code, empty.stderr).to.equal(0);
      expect(JSON.parse(empty.stdout)).to.deep.equal([]);
      const ok = await runCli(["ca", "issue", ...h.args, ...csrArgs(goodCsr)], { env: h.env });
      expect(ok.code, ok.stderr).to.equal(0);
      expect(await registryCount(h.dbFile)).to.equal(1);
    });

    it("vetCsr (library) refuses tampered, empty, random, hollow-PEM and non-CSR input with CsrRejectedError", async () => {
      const hollow = "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n";
      const armoured = `-----BEGIN CERTIFICATE REQUEST-----\n${randomBytes(300).toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
      const inputs = [
        readFileSync(join(dir, "badsig.csr"), "utf8"),
        "",
        randomBytes(64),
        hollow,
        armoured,
        readFileSync(h.paths.rootCert, "utf8"),
      ];
      for (const [i, input] of inputs.entries()) {
        let err: unknown;
        try {
          await vetCsr(input);
        } catch (e) {
          err = e;
        }
        expect(err, `input ${i}`).to.be.instanceOf(CsrRejectedError);
      }
      expect((await vetCsr(readFileSync(goodCsr))).commonName).to.equal("good");
    });
  });
