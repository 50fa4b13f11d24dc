/**
 * `certvault ca init` refusals, for each key backend: an existing CA (exit 1, files and token untouched), no secret when
 * not interactive (exit 2: the passphrase, and for a token its PIN), a short passphrase or an unknown key type (exit 2).
 */
import { expect } from "chai";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inParallel, runCli, TempDirs } from "../helpers/cli.js";
import type { TestCA } from "../../src/testing/index.js";
import type { CaHome } from "../helpers/ca-fixture.js";
import { backendCa, BACKENDS, CA_FILES, keysIn, tokenInitArgs } from "../helpers/ca-backend.js";
import type { BackendCa } from "../helpers/ca-backend.js";
import { hasPkcs11Tool } from "../hsm/softhsm.js";
import { tokenPrivateKeys } from "../hsm/pkcs11-tool.js";

for (const backend of BACKENDS)
  describe(`ca init refusals (CLI) ${keysIn(backend)}`, function () {
    this.timeout(30_000);
    const tmp = new TempDirs();
    let testCa: TestCA | undefined;
    after(async () => {
      tmp.cleanup();
      await testCa?.cleanup();
    });
    let b: BackendCa;
    let h: CaHome;
    let before_: Buffer[];
    let tokenBefore: string[];
    const files = (): string[] => CA_FILES[backend].map((f) => join(h.paths.dir, f));
    /** The private keys in the CA's token (label/id, via pkcs11-tool when installed); none for key files. */
    const tokenKeys = async (): Promise<string[]> =>
      b.token && hasPkcs11Tool() ? (await tokenPrivateKeys(b.token)).map((k) => `${k.label}/${k.id}`).sort() : [];
    const unchanged = async (): Promise<void> => {
      files().forEach((f, i) => expect(readFileSync(f).equals(before_[i] as Buffer), f).to.equal(true));
      expect(await tokenKeys(), "the token's keys").to.deep.equal(tokenBefore);
    };

    before(async function () {
      b = await backendCa(this, backend, { name: "Test" });
      ({ ca: testCa, h } = b);
      before_ = files().map((f) => readFileSync(f));
      tokenBefore = await tokenKeys();
      if (b.token && hasPkcs11Tool()) expect(tokenBefore).to.have.length(2);
    });

    it(`refuses a second init with exit 1 and leaves the CA's files${backend === "file" ? "" : " and the token's keys"} unchanged`, async () => {
      const r = await runCli(
        ["ca", "init", "--home", h.home, "--passphrase-file", h.passFile, ...b.initArgs, "--key-type", "rsa-3072"],
        { env: h.env },
      );
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.match(/already exists/);
      expect(r.stdout).to.equal("");
      await unchanged();
    });

    it("refuses a second init with exit 1 also when no passphrase is given", async () => {
      const r = await runCli(["ca", "init", "--home", h.home, ...b.initArgs], { env: h.env });
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.match(/already exists/);
      await unchanged();
    });

    it(`exits 2 with a clear message and creates nothing when no ${backend === "file" ? "passphrase" : "passphrase, or no PIN,"} is available non-interactively`, async () => {
      const attempts = [
        { args: b.initArgs, message: /passphrase is required.*(--passphrase-file|CERTVAULT_PASSPHRASE)/ },
      ];
      if (b.token)
        attempts.push({
          args: ["--passphrase-file", h.passFile, ...tokenInitArgs(b.token, true)],
          message: /PIN with --pkcs11-pin-file FILE, CERTVAULT_PKCS11_PIN_FILE or CERTVAULT_PKCS11_PIN/,
        });
      const homes = attempts.map(() => join(tmp.make(), "home"));
      const results = await inParallel(
        attempts.map((a, i) => () => runCli(["ca", "init", "--home", homes[i] as string, ...a.args], { env: h.env })),
      );
      results.forEach((r, i) => {
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stderr).to.match(attempts[i]?.message as RegExp);
        expect(r.stdout).to.equal("");
        expect(existsSync(homes[i] as string), "nothing created").to.equal(false);
      });
      await unchanged();
    });

    it("exits 2 on a passphrase shorter than 8 characters and on an unknown key type", async () => {
      const dir = tmp.make();
      const short = join(dir, "short.txt");
      writeFileSync(short, "short\n");
      const [r1, r2] = await Promise.all([
        runCli(["ca", "init", "--home", join(dir, "a"), "--passphrase-file", short, ...b.initArgs], { env: h.env }),
        runCli(["ca", "init", "--home", join(dir, "b"), "--key-type", "dsa-1024", ...b.initArgs], {
          env: { ...h.env, CERTVAULT_PASSPHRASE: "long enough passphrase" },
        }),
      ]);
      expect(r1.code).to.equal(2);
      expect(r1.stderr).to.match(/at least 8/);
      expect(existsSync(join(dir, "a", "ca")), "no CA directory").to.equal(false);
      expect(r2.code).to.equal(2);
      expect(r2.stderr).to.match(/unknown key type/);
      await unchanged();
    });
  });
