/**
 * The contract's library entry points, imported by plain `node` (no tsx, no build step of ours) the way a user's
 * program imports them after `npm install`: the built files under dist/ through package.json "exports".
 */
import { expect } from "chai";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runProcess } from "../helpers/cli.js";

const ENTRY_POINTS: Record<string, string[]> = {
  "certvault/client-sdk": [
    "CertvaultClient",
    "FileKeyStore",
    "createKeyAndCsr",
    "clientFromProfile",
    "ServerError",
    "UntrustedCertificateError",
  ],
  "certvault/envelope": ["seal", "open", "recipientsOf", "addRecipients", "removeRecipients", "inspect", "isRecipient"],
  "certvault/ca": ["CertificateAuthority", "initCa", "caPaths", "vetCsr"],
  "certvault/testing": ["createTestCA", "startTestServer"],
};

describe("library entry points from plain node", function () {
  before(function () {
    // `npm install` builds dist/ (prepare); a checkout that skipped it has nothing to import yet.
    if (!existsSync(join(REPO_ROOT, "dist", "client-sdk", "index.js"))) {
      console.log("      (skipped: dist/ is missing; `npm install` or `npm run build` makes it)");
      this.skip();
    }
  });

  for (const [specifier, names] of Object.entries(ENTRY_POINTS)) {
    it(`import("${specifier}") exports ${names.join(", ")}`, async function () {
      const script = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`;
      const r = await runProcess(process.execPath, ["--input-type=module", "-e", script], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? "" },
        timeoutMs: 30_000,
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout) as string[]).to.include.members(names);
    });
  }
});
