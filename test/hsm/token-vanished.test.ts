/**
 * A token whose storage vanishes under a running signer fails closed with a token error that names the PKCS#11
 * function, not a bare "CKR_GENERAL_ERROR" turned into "internal error" (what a CI simulation printed on 2026-12-03,
 * when the token directories under /tmp were removed mid-run). The signer runs in a child process with a token of
 * its own (token-vanished-child.ts).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import { TempDirs } from "../helpers/cli.js";
import { makeSoftHsmToken, softHsmOrSkip } from "./softhsm.js";
import type { SoftHsmToken } from "./softhsm.js";

const run = promisify(execFile);

describe("PKCS#11 signer: the token's storage vanishes (SoftHSM2)", function () {
  this.timeout(60_000);
  const tmp = new TempDirs();
  let token: SoftHsmToken | undefined;

  after(() => {
    token?.cleanup();
    tmp.cleanup();
  });

  it("signs before; after, fails with pkcs11_token_error naming the token and the PKCS#11 function", async function () {
    token = makeSoftHsmToken(softHsmOrSkip(this), "cv-vanishing");
    const child = fileURLToPath(new URL("./token-vanished-child.ts", import.meta.url));
    const { stdout } = await run(process.execPath, ["--import", "tsx", child], {
      env: {
        ...process.env,
        ...token.env,
        CV_CA_DIR: tmp.make(),
        CV_PKCS11_MODULE: token.module,
        CV_TOKEN: token.label,
        CV_PKCS11_PIN: token.pin,
        CV_TOKEN_STORAGE: join(token.dir, "tokens"),
      },
    });
    const { before, after } = JSON.parse(stdout) as {
      before: { verified?: boolean };
      after: { error?: string; code?: string; message?: string };
    };
    expect(before).to.deep.equal({ verified: true });
    expect(after.error, JSON.stringify(after)).to.equal("Pkcs11TokenError");
    expect(after.code).to.equal("pkcs11_token_error");
    expect(after.message).to.match(/^token "cv-vanishing": C_\w+ failed with CKR_\w+$/);
    expect(after.message).to.not.include(token.pin);
  });
});
