/**
 * certvault/testing itself: CAs of every key type that openssl accepts and that look like `certvault ca init`'s,
 * server certificates, revocation and CRLs, the client factory, a CA + 10 client certificates (their speed is in
 * bench/kit.ts), and cleanup that leaves no files and no listening sockets behind. Also: nothing in production code can
 * reach the kit (and so its broken variants).
 */
import { expect } from "chai";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { initCa } from "../../src/ca/ca-init.js";
import { caPaths } from "../../src/ca/ca-files.js";
import { ServerError } from "../../src/client-sdk/index.js";
import { createTestCA, startTestServer, TEST_PASSPHRASE } from "../../src/testing/index.js";
import { testKeyPair } from "../../src/testing/key-cache.js";
import type { TestCA } from "../../src/testing/index.js";
import { pino } from "pino";
import { resolveServer } from "../../src/config/index.js";
import { startServer } from "../../src/server/index.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { extensionBlock, openssl, opensslOk, x509Text } from "../helpers/openssl.js";
import { eventually } from "../helpers/eventually.js";

const DAY = 86_400_000;

/** Extension titles and values of a certificate as openssl prints them, key identifiers masked. */
function extensionsOf(text: string): Record<string, string> {
  const section = text.split("X509v3 extensions:")[1]?.split("Signature Algorithm:")[0] ?? "";
  const out: Record<string, string> = {};
  for (const m of section.matchAll(/^\s+(X509v3 [^:]+):/gm)) {
    const title = m[1] as string;
    const block = extensionBlock(text, title);
    out[title] = `${block?.critical ? "critical " : ""}${/Key Identifier/.test(title) ? "<key id>" : block?.value}`;
  }
  return out;
}

function validityDays(text: string): number {
  const nb = Date.parse(/Not Before: (.+)/.exec(text)?.[1] ?? "");
  const na = Date.parse(/Not After : (.+)/.exec(text)?.[1] ?? "");
  return Math.round((na - nb) / DAY);
}

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Node's own count of open TCP handles (listening servers and sockets) in this process. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap" || r === "TCPSocketWrap").length;
}

describe("certvault/testing: the kit", function () {
  describe("createTestCA key types", function () {
    const CASES = [
      { keyType: "ec-p256", key: /Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/, sig: "ecdsa-with-SHA256" },
      { keyType: "ec-p384", key: /Public-Key: \(384 bit\)[\s\S]*NIST CURVE: P-384/, sig: "ecdsa-with-SHA384" },
      { keyType: "rsa-3072", key: /rsaEncryption\n\s+Public-Key: \(3072 bit\)/, sig: "sha256WithRSAEncryption" },
    ] as const;

    for (const c of CASES) {
      it(`${c.keyType}: root and intermediate of that type, keys openssl opens with the passphrase file, a client certificate that verifies`, async function () {
        const ca = await createTestCA({ keyType: c.keyType });
        try {
          expect(ca.keyType).to.equal(c.keyType);
          for (const file of [ca.paths.rootCert, ca.paths.intermediateCert]) {
            const text = await x509Text(file);
            expect(text).to.match(c.key);
            expect(text).to.include(`Signature Algorithm: ${c.sig}`);
          }
          for (const key of [ca.paths.rootKey, ca.paths.intermediateKey]) {
            expect(readFileSync(key, "utf8")).to.match(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
            expect(statSync(key).mode & 0o777).to.equal(0o600);
            expect(
              (await openssl(["pkey", "-in", key, "-passin", `file:${ca.passphraseFile}`, "-noout"])).code,
            ).to.equal(0);
            expect(
              (await openssl(["pkey", "-in", key, "-passin", "pass:wrong passphrase", "-noout"])).code,
            ).to.not.equal(0);
          }
          expect(ca.passphrase).to.equal(TEST_PASSPHRASE);
          const alice = await ca.issueClient("alice");
          const v = await openssl([
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            ca.paths.rootCert,
            "-untrusted",
            ca.paths.intermediateCert,
            alice.certPath,
          ]);
          expect(v.code, v.stdout + v.stderr).to.equal(0);
          expect(await x509Text(alice.certPath)).to.include(`Signature Algorithm: ${c.sig}`);
          const crl = await openssl([
            "crl",
            "-in",
            ca.paths.rootCrl,
            "-CAfile",
            ca.paths.rootCert,
            "-noout",
            "-verify",
          ]);
          expect(crl.stdout + crl.stderr).to.match(/verify OK/);
        } finally {
          await ca.cleanup();
        }
      });
    }

    it("refuses an unknown key type before writing anything", async function () {
      const parent = mkdtempSync(join(tmpdir(), "certvault-kit-"));
      try {
        let failed: unknown;
        try {
          await createTestCA({ keyType: "dsa-1024" as never, dir: parent });
        } catch (err) {
          failed = err;
        }
        expect((failed as Error | undefined)?.message).to.match(/unknown key type "dsa-1024"/);
        expect(readdirSync(parent)).to.deep.equal([]);
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    });
  });

  describe("the kit's CA looks like `certvault ca init`'s", function () {
    let kit: TestCA;
    let home: string;
    before(async function () {
      kit = await createTestCA({ name: "Parity" });
      home = mkdtempSync(join(tmpdir(), "certvault-kit-"));
      await initCa(caPaths(home), { name: "Parity", keyType: "ec-p256", passphrase: TEST_PASSPHRASE });
    });
    after(async function () {
      await kit.cleanup();
      rmSync(home, { recursive: true, force: true });
    });

    for (const which of ["rootCert", "intermediateCert"] as const) {
      it(`${which}: same subject, issuer, extensions (criticality and values) and validity as openssl reads them`, async function () {
        const [a, b] = [await x509Text(kit.paths[which]), await x509Text(caPaths(home)[which])];
        expect(/Subject: (.+)/.exec(a)?.[1]).to.equal(/Subject: (.+)/.exec(b)?.[1]);
        expect(/Issuer: (.+)/.exec(a)?.[1]).to.equal(/Issuer: (.+)/.exec(b)?.[1]);
        expect(extensionsOf(a)).to.deep.equal(extensionsOf(b));
        expect(Object.keys(extensionsOf(a))).to.have.length.at.least(4);
        expect(validityDays(a)).to.equal(validityDays(b));
      });
    }

    it("root.crl: same issuer and extensions, and it verifies against the root", async function () {
      const read = (h: string) => opensslOk(["crl", "-in", caPaths(h).rootCrl, "-noout", "-text"]);
      const [a, b] = [await read(kit.home), await read(home)];
      expect(/Issuer: (.+)/.exec(a)?.[1]).to.equal(/Issuer: (.+)/.exec(b)?.[1]);
      expect(extensionBlock(a, "X509v3 CRL Number")?.value).to.equal(extensionBlock(b, "X509v3 CRL Number")?.value);
      const v = await openssl(["crl", "-in", kit.paths.rootCrl, "-CAfile", kit.paths.rootCert, "-noout", "-verify"]);
      expect(v.stdout + v.stderr).to.match(/verify OK/);
    });

    it("the client certificate profile is the CA's (the same shape `ca issue --profile client` gives)", async function () {
      const alice = await kit.issueClient("alice", { days: 90 });
      const viaCa = await kit.authority.issueForKey({
        publicKey: (await testKeyPair("ec-p256")).publicKey,
        commonName: "alice",
        family: "EC",
        keyType: "ec-p256",
        profile: "client",
        days: 90,
      });
      const b = await opensslOk(["x509", "-noout", "-text"], { input: viaCa.pem });
      const a = await x509Text(alice.certPath);
      expect(extensionsOf(a)).to.deep.equal(extensionsOf(b));
      expect(validityDays(a)).to.equal(validityDays(b));
    });
  });

  describe("issueServer, revoke and crl", function () {
    let ca: TestCA;
    before(async function () {
      ca = await createTestCA();
    });
    after(async function () {
      await ca.cleanup();
    });

    it("issueServer(names): CN = the first name, SANs = all of them, EKU serverAuth, fit for sslserver only, registered", async function () {
      const srv = await ca.issueServer(["svc.example", "localhost", "127.0.0.1", "::1"]);
      const text = await x509Text(srv.certPath);
      expect(text).to.match(/Subject: CN = svc\.example\n/);
      expect(extensionBlock(text, "X509v3 Subject Alternative Name")?.value).to.equal(
        "DNS:svc.example, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
      );
      expect(extensionBlock(text, "X509v3 Extended Key Usage")?.value).to.equal("TLS Web Server Authentication");
      expect(extensionBlock(text, "X509v3 Basic Constraints")).to.deep.equal({ critical: true, value: "CA:FALSE" });
      expect(validityDays(text)).to.equal(365);
      const verify = (purpose: string) =>
        openssl([
          "verify",
          "-purpose",
          purpose,
          "-CAfile",
          ca.paths.rootCert,
          "-untrusted",
          ca.paths.intermediateCert,
          srv.certPath,
        ]);
      expect((await verify("sslserver")).code).to.equal(0);
      expect((await verify("sslclient")).code).to.not.equal(0);
      expect(
        await opensslOk(["x509", "-in", srv.certPath, "-noout", "-checkhost", "localhost", "-checkip", "127.0.0.1"]),
      ).to.match(/does match certificate[\s\S]*does match certificate/);
      expect((await ca.authority.show(srv.serial)).profile).to.equal("server");
      expect(srv.profile).to.equal("server");
      expect(() => ca.issueServer([])).to.throw(/at least one name/);
    });

    it("revoke(identity | serial) and crl(): a CRL that openssl verifies and that reports the revoked certificates revoked", async function () {
      const bob = await ca.issueClient("bob");
      const carol = await ca.issueClient("carol");
      const dave = await ca.issueClient("dave");
      await ca.revoke(bob, "keyCompromise");
      await ca.revoke(carol.serial);
      const pem = await ca.crl();
      expect(pem).to.match(/^-----BEGIN X509 CRL-----\n[\s\S]+-----END X509 CRL-----\n$/);
      expect(await ca.crlPem()).to.match(/^-----BEGIN X509 CRL-----\n/); // the old name still works
      const crlFile = join(ca.home, "test.crl");
      writeFileSync(crlFile, pem);
      const text = await opensslOk(["crl", "-in", crlFile, "-noout", "-text"]);
      expect(text.toUpperCase())
        .to.include(bob.serial.toUpperCase())
        .and.include(carol.serial.toUpperCase())
        .and.not.include(dave.serial.toUpperCase());
      expect(text).to.match(/Key Compromise/);
      const check = (cert: string) =>
        openssl([
          "verify",
          "-crl_check",
          "-CRLfile",
          crlFile,
          "-CAfile",
          ca.paths.rootCert,
          "-untrusted",
          ca.paths.intermediateCert,
          cert,
        ]);
      const revoked = await check(bob.certPath);
      expect(revoked.code).to.not.equal(0);
      expect(revoked.stdout + revoked.stderr).to.match(/certificate revoked/);
      expect((await check(dave.certPath)).code).to.equal(0);
    });
  });

  describe("startTestServer", function () {
    let ca: TestCA;
    before(async function () {
      ca = await createTestCA();
    });
    after(async function () {
      await ca.cleanup();
    });

    it("client(identity) gives a ready CertvaultClient: records go in sealed and come back; owners only", async function () {
      const server = await startTestServer({ ca });
      try {
        expect(server.url).to.equal(`https://127.0.0.1:${server.port}`);
        const alice = server.client(await ca.issueClient("alice"));
        const bob = server.client(await ca.issueClient("bob"));
        const id = await alice.put(new TextEncoder().encode("alice's note"));
        expect(new TextDecoder().decode(await alice.get(id))).to.equal("alice's note");
        let denied: unknown;
        try {
          await bob.get(id);
        } catch (err) {
          denied = err;
        }
        expect(denied).to.be.instanceOf(ServerError);
        expect((denied as ServerError).code).to.equal("not_found");
        // The server never held the plaintext: only a CMS envelope is stored.
        const row = (await ca.db("records").where({ id }).first()) as { envelope: Buffer };
        expect(Buffer.from(row.envelope).includes(Buffer.from("alice's note"))).to.equal(false);
      } finally {
        await server.stop();
      }
    });

    it("a revoked identity is refused within the server's poll interval", async function () {
      const server = await startTestServer({ ca });
      try {
        const eve = await ca.issueClient("eve");
        expect((await server.client(eve).me()).identity).to.equal("eve");
        await ca.revoke(eve, "keyCompromise");
        const meOf = (): Promise<unknown> =>
          server
            .client(eve, { retries: 0 })
            .me()
            .then(
              () => undefined,
              (err: unknown) => err,
            );
        // Awaited, bounded by a few poll intervals (the promise of the kit's docs); no fixed sleep.
        const refused = await eventually(meOf, {
          what: "the server to refuse eve",
          timeoutMs: server.revocationPollMs * 5,
        });
        expect(refused).to.be.an("error");
      } finally {
        await server.stop();
      }
    });

    it("syncRegistry() makes the server see a revocation now, without waiting for its poll", async function () {
      // A poll interval no test waits out: only syncRegistry() can make this server see the revocation in time.
      const server = await startTestServer({ ca, config: { revocationPollMs: 600_000 } });
      try {
        const mia = await ca.issueClient("mia");
        expect((await server.client(mia).me()).identity).to.equal("mia");
        await ca.revoke(mia, "keyCompromise");
        const me = (): Promise<string> =>
          server
            .client(mia, { retries: 0 })
            .me()
            .then(
              () => "served",
              (err: unknown) => (err instanceof ServerError ? err.code : "refused"),
            );
        expect(await me(), "before the sync: the server has not polled").to.equal("served");
        await server.syncRegistry();
        expect(await me(), "after the sync").to.be.oneOf(["certificate_revoked", "refused"]);
        await server.stop();
        let afterStop: unknown;
        await server.syncRegistry().catch((err: unknown) => (afterStop = err));
        expect(String(afterStop)).to.match(/stopped/);
      } finally {
        await server.stop();
      }
    });

    it("the server still makes its own TLS certificate on a first start without the kit's (the path the kit skips)", async function () {
      // startTestServer puts a server key in place first; here the real server starts on a fresh kit CA without one.
      const fresh = await createTestCA();
      try {
        const config = {
          ...resolveServer({ home: fresh.home, port: "0", db: fresh.dbTarget }, {}),
          logLevel: "silent",
        };
        const running = await startServer({ config, passphrase: fresh.passphrase, log: pino({ level: "silent" }) });
        try {
          const crt = join(fresh.home, "server", "server.crt");
          const text = await x509Text(crt);
          expect(extensionBlock(text, "X509v3 Subject Alternative Name")?.value).to.equal(
            "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
          );
          const key = join(fresh.home, "server", "server.key");
          const asn = await opensslOk(["asn1parse", "-in", key]);
          expect(asn).to.match(/INTEGER\s+:0?927C0\n/); // 600,000 PBKDF2 rounds: certvault's own KDF, not the kit's
          expect(
            (await openssl(["pkey", "-in", key, "-passin", `file:${fresh.passphraseFile}`, "-noout"])).code,
          ).to.equal(0);
          expect((await fresh.authority.list()).filter((c) => c.profile === "server")).to.have.length(1);
        } finally {
          running.server.closeAllConnections();
          await running.close();
        }
      } finally {
        await fresh.cleanup();
      }
    });

    it("passes `db` and `config` through to the server configuration", async function () {
      const server = await startTestServer({ ca, db: ca.dbTarget, config: { maxRecordBytes: 10 } });
      try {
        const c = server.client(await ca.issueClient("frank"));
        let tooBig: unknown;
        try {
          await c.put(new Uint8Array(64));
        } catch (err) {
          tooBig = err;
        }
        expect((tooBig as ServerError).code).to.equal("payload_too_large");
      } finally {
        await server.stop();
      }
    });
  });

  describe("a CA and 10 client certificates (their speed is measured by `npm run bench -- kit`)", function () {
    it("makes a CA and 10 client certificates, each registered, distinct and verified by openssl", async function () {
      const ca = await createTestCA();
      try {
        const ids = [];
        for (let i = 0; i < 10; i++) ids.push(await ca.issueClient(`user${i}`));
        expect(new Set(ids.map((c) => c.serial)).size, "distinct serials").to.equal(10);
        const listed = (await ca.authority.list()).filter((c) => c.profile === "client").map((c) => c.serial);
        expect(listed.sort()).to.deep.equal(ids.map((c) => c.serial).sort());
        const verified = await opensslOk([
          "verify",
          ...["-CAfile", ca.paths.rootCert, "-untrusted", ca.paths.intermediateCert, "-purpose", "sslclient"],
          ...ids.map((c) => c.certPath),
        ]);
        expect(
          verified
            .trim()
            .split("\n")
            .filter((l) => l.endsWith(": OK")),
        ).to.have.length(10);
      } finally {
        await ca.cleanup();
      }
    });
  });

  describe("cleanup leaves nothing behind", function () {
    it("cleanup() removes every file, stop() closes the port and every socket", async function () {
      const parent = mkdtempSync(join(tmpdir(), "certvault-kit-"));
      try {
        const handlesBefore = tcpHandles();
        const ca = await createTestCA({ dir: parent });
        const foreign = await ca.foreign();
        const server = await startTestServer({ ca });
        const alice = await ca.issueClient("alice");
        await ca.issueServer("svc.example");
        const client = server.client(alice); // a keep-alive connection
        await client.put(new TextEncoder().encode("x"));
        expect(await accepts(server.port)).to.equal(true);
        expect(tcpHandles(), "the listener and the kept-alive connection count as TCP handles").to.be.at.least(
          handlesBefore + 2,
        );
        expect(readdirSync(parent)).to.have.length(2);
        expect(existsSync(alice.keyPath)).to.equal(true);

        await server.stop();
        expect(await accepts(server.port), "the port still accepts connections").to.equal(false);
        await ca.cleanup();
        await foreign.cleanup();
        expect(existsSync(ca.home)).to.equal(false);
        expect(existsSync(alice.dir)).to.equal(false);
        expect(readdirSync(parent), "files left in the parent dir").to.deep.equal([]);
        // Sockets close asynchronously after destroy(); give them a tick, then none of ours may remain.
        await eventually(() => tcpHandles() <= handlesBefore, {
          what: "our TCP handles closed",
          timeoutMs: 1000,
        });
        expect(tcpHandles(), "TCP handles still open").to.equal(handlesBefore);
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    });

    it("cleanup() stops a server that is still running over the CA, and may be called twice", async function () {
      const ca = await createTestCA();
      const server = await startTestServer({ ca });
      const c = server.client(await ca.issueClient("bob"));
      expect((await c.me()).identity).to.equal("bob");
      await ca.cleanup();
      await ca.cleanup();
      expect(await accepts(server.port)).to.equal(false);
      expect(existsSync(ca.home)).to.equal(false);
      await server.stop(); // a no-op now
      expect(() => server.client({ certPem: "", key: undefined as never })).to.throw(/stopped/);
    });
  });

  describe("the broken variants are unreachable from production code", function () {
    it("no file outside testing/, test/ and bench/ imports the kit", function () {
      const offenders: string[] = [];
      const walk = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const path = join(dir, entry.name);
          const rel = relative(REPO_ROOT, path);
          if (entry.isDirectory()) {
            if (["node_modules", "dist", join("src", "testing"), "test", "bench", ".git", ".certvault"].includes(rel))
              continue;
            walk(path);
          } else if (
            /\.(ts|js|mjs)$/.test(entry.name) &&
            /(from\s+|import\()["'][^"']*\/testing(\/|\/index)?(\.js)?["']|certvault\/testing/.test(
              readFileSync(path, "utf8"),
            )
          ) {
            offenders.push(rel);
          }
        }
      };
      walk(REPO_ROOT);
      expect(offenders).to.deep.equal([]);
    });
  });
});
