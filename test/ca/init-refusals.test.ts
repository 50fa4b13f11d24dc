/** `certvault ca init` refusals: an existing CA (exit 1, files untouched), no passphrase when not interactive (exit 2). */
import { expect } from "chai";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, TempDirs } from "../helpers/cli.js";
import { createTestCA } from "../../testing/index.js";
import type { TestCA } from "../../testing/index.js";
import { cliHome } from "../helpers/ca-fixture.js";
import type { CaHome } from "../helpers/ca-fixture.js";

describe("ca init refusals (CLI)", function () {
  this.timeout(30_000);
  const tmp = new TempDirs();
  let testCa: TestCA;
  after(async () => {
    tmp.cleanup();
    await testCa.cleanup();
  });
  let h: CaHome;
  let before_: Buffer[];
  const files = (): string[] => [h.paths.rootCert, h.paths.rootKey, h.paths.intermediateCert, h.paths.intermediateKey];

  before(async () => {
    testCa = await createTestCA({ name: "Test" });
    h = cliHome(testCa);
    before_ = files().map((f) => readFileSync(f));
  });

  it("refuses a second init with exit 1 and leaves the four files byte-for-byte unchanged", async () => {
    const r = await runCli(["ca", "init", ...h.args, "--key-type", "rsa-3072"]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/already exists/);
    expect(r.stdout).to.equal("");
    files().forEach((f, i) => expect(readFileSync(f).equals(before_[i] as Buffer), f).to.equal(true));
  });

  it("refuses a second init with exit 1 also when no passphrase is given", async () => {
    const r = await runCli(["ca", "init", "--home", h.home]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/already exists/);
    files().forEach((f, i) => expect(readFileSync(f).equals(before_[i] as Buffer), f).to.equal(true));
  });

  it("exits 2 with a clear message and creates nothing when no passphrase is available non-interactively", async () => {
    const home = join(tmp.make(), "home");
    const r = await runCli(["ca", "init", "--home", home]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/passphrase is required/).and.match(/--passphrase-file|CERTVAULT_PASSPHRASE/);
    expect(r.stdout).to.equal("");
    expect(existsSync(join(home, "ca", "root.key"))).to.equal(false);
  });

  it("exits 2 on a passphrase shorter than 8 characters and on an unknown key type", async () => {
    const dir = tmp.make();
    const short = join(dir, "short.txt");
    writeFileSync(short, "short\n");
    const r1 = await runCli(["ca", "init", "--home", join(dir, "a"), "--passphrase-file", short]);
    expect(r1.code).to.equal(2);
    expect(r1.stderr).to.match(/at least 8/);
    expect(existsSync(join(dir, "a", "ca", "root.key"))).to.equal(false);
    const r2 = await runCli(["ca", "init", "--home", join(dir, "b"), "--key-type", "dsa-1024"], { env: { CERTVAULT_PASSPHRASE: "long enough passphrase" } });
    expect(r2.code).to.equal(2);
    expect(r2.stderr).to.match(/unknown key type/);
  });
});
