/**
 * One-time enrollment end to end (issue 18): `ca token` → `certvault server --enroll-port` (a real server process,
 * every log line captured) → `certvault enroll` → `put`/`get`; and each refusal (token used, revoked, bound to
 * another identity, rate-limited; a wrong fingerprint; a server that does not chain to the pinned root), each with
 * nothing issued (`ca list --json` unchanged) and audited; then the token is searched for in the database, its files,
 * the log and the audit export.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestCA } from "../../src/testing/index.js";
import type { TestCA } from "../../src/testing/index.js";
import { isPostgresUrl } from "../../src/store/db.js";
import { runCli } from "../helpers/cli.js";
import { tableNames } from "../helpers/db.js";
import { openssl, opensslOk } from "../helpers/openssl.js";
import { makeCsr } from "../helpers/ca-fixture.js";
import {
  auditSince,
  auditTail,
  dumpDatabase,
  enrollRequest,
  listedSerials,
  makeToken,
  startEnrollServer,
} from "./helpers.js";
import type { EnrollServer, TokenJson } from "./helpers.js";

describe("enrollment with one-time tokens (server process)", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: EnrollServer;
  let passFile: string;
  let fingerprint: string;
  /** Every token made here: none of them may show up anywhere at the end. */
  const tokens: TokenJson[] = [];
  let n = 0;

  const token = async (name: string, extra: string[] = []): Promise<TokenJson> => {
    const t = await makeToken(ca, name, extra);
    tokens.push(t);
    return t;
  };
  const tokenFile = (t: TokenJson): string => {
    const f = join(ca.home, `token-${n++}.txt`);
    writeFileSync(f, t.token + "\n", { mode: 0o600 });
    return f;
  };
  const enroll = (t: TokenJson, dir: string, fp = fingerprint) =>
    runCli([
      "enroll",
      "--server",
      server.enrollUrl,
      "--token-file",
      tokenFile(t),
      "--fingerprint",
      fp,
      "--out",
      dir,
      "--passphrase-file",
      passFile,
    ]);
  const csrFor = async (cn: string, kind: "ec-p256" | "rsa-1024" = "ec-p256"): Promise<string> =>
    readFileSync((await makeCsr(ca.home, kind, cn)).csr, "utf8");
  const post = (body: unknown) => enrollRequest(server.enrollUrl, ca.rootPem, { body: JSON.stringify(body) });

  before(async function () {
    ca = await createTestCA();
    server = await startEnrollServer(ca, { CERTVAULT_ENROLL_RATE_LIMIT_TOKEN: "4/60" });
    passFile = join(ca.home, "user-pass.txt");
    writeFileSync(passFile, "a user's long passphrase\n", { mode: 0o600 });
    fingerprint = (await opensslOk(["x509", "-in", ca.paths.rootCert, "-noout", "-fingerprint", "-sha256"]))
      .trim()
      .replace(/^sha256 Fingerprint=/i, "");
  });
  after(async function () {
    await server?.stop();
    await ca?.cleanup();
  });

  it("prints `enrollment on URL` after `listening on URL`; the listener asks for no client certificate and serves POST /v1/enroll alone", async function () {
    expect(server.stdout()).to.match(
      /^listening on https:\/\/127\.0\.0\.1:\d+\nenrollment on https:\/\/127\.0\.0\.1:\d+\n$/,
    );
    expect(server.enrollUrl).to.not.equal(server.url);
    for (const [method, path] of [
      ["GET", "/v1/me"],
      ["GET", "/v1/records"],
      ["POST", "/v1/records"],
      ["GET", "/v1/crl"],
      ["GET", "/v1/enroll"],
      ["GET", "/"],
      ["POST", "/v1/enroll/x"],
    ] as const) {
      const r = await enrollRequest(server.enrollUrl, ca.rootPem, {
        method,
        path,
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      expect(r.status, `${method} ${path}`).to.equal(404);
      expect(JSON.parse(r.body)).to.deep.equal({ error: { code: "not_found", message: "no such endpoint" } });
    }
    // The mutual-TLS listener still refuses a caller without a client certificate.
    const mtls = await enrollRequest(server.url, ca.rootPem, { method: "GET", path: "/v1/me" }).then(
      (r) => r.status,
      () => "refused",
    );
    expect(mtls).to.not.equal(200);
  });

  it("admin token → user enroll → put → get: a complete profile, the key made and kept on the user's side", async function () {
    const before = await listedSerials(ca);
    const t = await token("alice");
    expect(Object.keys(t).sort()).to.deep.equal(["expiresAt", "fingerprint", "id", "identity", "token"]);
    expect(t.identity).to.equal("alice");
    expect(t.fingerprint).to.equal(fingerprint); // as `openssl x509 -noout -fingerprint -sha256` prints it
    const ttl = new Date(t.expiresAt).getTime() - Date.now();
    expect(ttl).to.be.within(3_500_000, 3_600_000);

    const dir = join(ca.home, "alice");
    const r = await enroll(t, dir);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^enrolled as alice \(certificate [0-9a-f]+\)/);

    const key = join(dir, "key.pem");
    expect(statSync(key).mode & 0o777).to.equal(0o600);
    expect(readFileSync(key, "utf8")).to.match(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect((await openssl(["pkey", "-in", key, "-passin", `file:${passFile}`, "-noout"])).code).to.equal(0);
    expect(readFileSync(join(dir, "ca.pem"), "utf8").trim()).to.equal(ca.rootPem.trim());
    const verify = await openssl([
      "verify",
      "-CAfile",
      join(dir, "ca.pem"),
      "-untrusted",
      ca.paths.intermediateCert,
      join(dir, "cert.pem"),
    ]);
    expect(verify.code, verify.stderr).to.equal(0);
    expect(
      await opensslOk(["x509", "-in", join(dir, "cert.pem"), "-noout", "-subject", "-ext", "extendedKeyUsage"]),
    ).to.match(/CN\s*=\s*alice[\s\S]*TLS Web Client Authentication/);
    // The certificate is for the key made here.
    const certKey = await opensslOk(["x509", "-in", join(dir, "cert.pem"), "-noout", "-pubkey"]);
    const ownKey = await opensslOk(["pkey", "-in", key, "-passin", `file:${passFile}`, "-pubout"]);
    expect(certKey).to.equal(ownKey);
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))).to.deep.equal({ server: server.url });

    const after = await listedSerials(ca);
    expect(after.length).to.equal(before.length + 1);

    // The next commands work as they are: no --server, the profile says where.
    const data = join(ca.home, "alice-notes.txt");
    writeFileSync(data, "alice's first record\n");
    const put = await runCli(["put", "--profile", dir, "--passphrase-file", passFile, data]);
    expect(put.code, put.stderr).to.equal(0);
    const get = await runCli(["get", "--profile", dir, "--passphrase-file", passFile, put.stdout.trim()]);
    expect(get.code, get.stderr).to.equal(0);
    expect(get.stdout).to.equal("alice's first record\n");

    const list = await runCli(["ca", "token", "--list", "--json", ...ca.cliArgs]);
    expect(list.code, list.stderr).to.equal(0);
    const row = (JSON.parse(list.stdout) as Record<string, unknown>[]).find((x) => x.id === t.id);
    expect(row).to.include({ identity: "alice", status: "used" });
    expect(row).to.not.have.property("token");
    expect(list.stdout).to.not.include(t.token.split(".")[3]);
  });

  it("the same token a second time: 401 invalid_token, nothing issued, no key left behind, audited", async function () {
    const t = await token("carol");
    const first = await enroll(t, join(ca.home, "carol-1"));
    expect(first.code, first.stderr).to.equal(0);
    const before = await listedSerials(ca);
    const seq = await auditTail(ca);
    const dir = join(ca.home, "carol-2");
    const again = await enroll(t, dir);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/enrollment token is not valid/);
    expect(existsSync(join(dir, "key.pem"))).to.equal(false);
    expect(await listedSerials(ca)).to.deep.equal(before);
    const refused = (await auditSince(ca, seq)).filter((e) => e.action === "enroll.refused");
    expect(refused).to.have.length(1);
    expect(refused[0]).to.deep.include({
      status: 401,
      detail: { reason: "used", tokenId: t.id, identity: "carol", code: "invalid_token" },
    });
  });

  it("a revoked token: `ca token --revoke ID` (audited), then refused 401, nothing issued, audited", async function () {
    const t = await token("dave");
    const seq = await auditTail(ca);
    const rev = await runCli(["ca", "token", "--revoke", t.id, ...ca.cliArgs]);
    expect(rev.code, rev.stderr).to.equal(0);
    const again = await runCli(["ca", "token", "--revoke", t.id, ...ca.cliArgs]);
    expect(again.code).to.equal(1);
    const before = await listedSerials(ca);
    const r = await enroll(t, join(ca.home, "dave"));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/enrollment token is not valid/);
    expect(await listedSerials(ca)).to.deep.equal(before);
    const entries = await auditSince(ca, seq);
    expect(entries.filter((e) => e.action === "enroll.token.revoke").map((e) => e.detail?.phase)).to.deep.equal([
      "attempt",
      "done",
      "attempt",
      "failed",
    ]);
    expect(entries.find((e) => e.action === "enroll.refused")).to.deep.include({
      status: 401,
      detail: { reason: "revoked", tokenId: t.id, identity: "dave", code: "invalid_token" },
    });
  });

  it("a token for one identity with a CSR for another (or a CSR `ca issue` refuses): 400 csr_rejected, nothing issued, the token stays unused, audited", async function () {
    const t = await token("erin");
    const before = await listedSerials(ca);
    const seq = await auditTail(ca);
    const other = await post({ token: t.token, csr: await csrFor("frank") });
    expect(other.status).to.equal(400);
    expect(JSON.parse(other.body).error.code).to.equal("csr_rejected");
    const weak = await post({ token: t.token, csr: await csrFor("erin", "rsa-1024") });
    expect(weak.status).to.equal(400);
    expect(JSON.parse(weak.body).error.message).to.match(/RSA-1024/);
    expect(await listedSerials(ca)).to.deep.equal(before);
    const refused = (await auditSince(ca, seq)).filter((e) => e.action === "enroll.refused");
    expect(refused.map((e) => e.detail?.reason)).to.deep.equal(["identity_mismatch", "csr_rejected"]);
    expect(refused.every((e) => e.detail?.tokenId === t.id && e.status === 400)).to.equal(true);
    const list = JSON.parse((await runCli(["ca", "token", "--list", "--json", ...ca.cliArgs])).stdout) as {
      id: string;
      status: string;
    }[];
    expect(list.find((x) => x.id === t.id)?.status).to.equal("active");
  });

  it("a wrong fingerprint: stopped before the token is sent (no request reaches the server, nothing audited, no key left)", async function () {
    const t = await token("gina");
    const before = await listedSerials(ca);
    const seq = await auditTail(ca);
    const logged = (server.logs().match(/"enroll request"/g) ?? []).length;
    const wrong = randomBytes(32).toString("hex");
    const dir = join(ca.home, "gina");
    const r = await enroll(t, dir, wrong);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/fingerprint/);
    expect(readdirSync(dir)).to.deep.equal([]);
    expect(await listedSerials(ca)).to.deep.equal(before);
    expect(await auditSince(ca, seq)).to.deep.equal([]);
    expect((server.logs().match(/"enroll request"/g) ?? []).length).to.equal(logged);
    // The same token with the right fingerprint still works: it was never spent.
    const ok = await enroll(t, join(ca.home, "gina-ok"));
    expect(ok.code, ok.stderr).to.equal(0);
    expect((server.logs().match(/"enroll request"/g) ?? []).length).to.equal(logged + 1);
  });

  it("a server whose certificate is not a server certificate of the pinned CA for that host gets no request, even when it presents the pinned root", async function () {
    const t = await token("hana");
    const impostor = await ca.foreign();
    try {
      const foreignServer = await impostor.issueServer(["localhost", "127.0.0.1"]);
      // A user of this CA turning their client certificate into a server, and a server certificate for another name.
      const clientCert = await ca.issueClient("mallory");
      const otherName = await ca.issueServer(["other.example"]);
      const cases = [
        {
          what: "another CA's server certificate",
          key: foreignServer.keyPem,
          cert: foreignServer.certPem + impostor.intermediatePem + ca.rootPem,
          why: /fingerprint/,
        },
        {
          what: "a client certificate of this CA",
          key: clientCert.keyPem,
          cert: clientCert.certPem + ca.intermediatePem + ca.rootPem,
          why: /purpose|no token was accepted/,
        },
        {
          what: "a server certificate of this CA for another name",
          key: otherName.keyPem,
          cert: otherName.certPem + ca.intermediatePem + ca.rootPem,
          why: /altnames|Hostname|IP/,
        },
      ];
      for (const c of cases) {
        let requests = 0;
        const fake = createServer({ key: c.key, cert: c.cert }, (_req, res) => {
          requests++;
          res.writeHead(500).end();
        });
        await new Promise<void>((r) => fake.listen(0, "127.0.0.1", () => r()));
        try {
          const url = `https://127.0.0.1:${(fake.address() as AddressInfo).port}`;
          const dir = join(ca.home, `hana-${n}`);
          const r = await runCli([
            "enroll",
            "--server",
            url,
            "--token-file",
            tokenFile(t),
            "--fingerprint",
            fingerprint,
            "--out",
            dir,
            "--passphrase-file",
            passFile,
          ]);
          expect(r.code, c.what).to.equal(1);
          expect(r.stderr, c.what).to.match(c.why);
          expect(requests, c.what).to.equal(0);
          expect(existsSync(join(dir, "key.pem")), c.what).to.equal(false);
        } finally {
          fake.closeAllConnections();
          await new Promise((r) => fake.close(r));
        }
      }
    } finally {
      await impostor.cleanup();
    }
  });

  it("unknown, altered, malformed, used and revoked tokens get one indistinguishable 401", async function () {
    const used = await token("ivan");
    expect((await enroll(used, join(ca.home, "ivan"))).code).to.equal(0);
    const revoked = await token("ivan");
    expect((await runCli(["ca", "token", "--revoke", revoked.id, ...ca.cliArgs])).code).to.equal(0);
    const live = await token("ivan");
    const parts = live.token.split(".");
    const altered = [...parts.slice(0, 3), (parts[3] as string).replace(/^./, (c) => (c === "A" ? "B" : "A"))].join(
      ".",
    );
    const unknown = [parts[0], randomBytes(16).toString("hex"), parts[2], randomBytes(32).toString("base64url")].join(
      ".",
    );
    const before = await listedSerials(ca);
    const csr = await csrFor("ivan");
    const answers = [];
    for (const tok of [unknown, altered, "not a token", used.token, revoked.token])
      answers.push(await post({ token: tok, csr }));
    for (const a of answers) {
      expect(a.status).to.equal(401);
      expect(a.body).to.equal(answers[0]?.body);
    }
    expect(JSON.parse(answers[0]?.body ?? "").error.code).to.equal("invalid_token");
    expect(await listedSerials(ca)).to.deep.equal(before);
    // The live token, whose secret was guessed at once, still works.
    expect((await post({ token: live.token, csr })).status).to.equal(201);
  });

  it("attempts are rate-limited per token: 429 rate_limited with Retry-After, nothing issued", async function () {
    const t = await token("judy");
    const parts = t.token.split(".");
    const wrong = [...parts.slice(0, 3), randomBytes(32).toString("base64url")].join(".");
    const csr = await csrFor("judy");
    const before = await listedSerials(ca);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await post({ token: wrong, csr })).status);
    expect(statuses).to.deep.equal([401, 401, 401, 401]);
    const limited = await post({ token: t.token, csr });
    expect(limited.status).to.equal(429);
    expect(JSON.parse(limited.body).error.code).to.equal("rate_limited");
    expect(Number(limited.headers["retry-after"])).to.be.greaterThan(0);
    expect(await listedSerials(ca)).to.deep.equal(before);
  });

  it("no token is anywhere: not in any table or database file, not in the server's log, not in the audit export", async function () {
    expect(tokens.length).to.be.greaterThan(5);
    const dump = await dumpDatabase(ca);
    // On SQLite the database's files are searched too (free pages, the WAL); a PostgreSQL server's files are its own.
    const files = readdirSync(ca.home)
      .filter((f) => f.startsWith("certvault.db"))
      .map((f) => readFileSync(join(ca.home, f)).toString("latin1"));
    if (!isPostgresUrl(ca.dbTarget)) expect(files.length, "the database files searched").to.be.greaterThan(0);
    expect(await tableNames(ca.db), "the tables dumped").to.include.members(["enrollment_tokens", "audit_entries"]);
    const exp = await runCli(["audit", "export", ...ca.cliArgs]);
    expect(exp.code, exp.stderr).to.equal(0);
    const logs = server.logs();
    // The places searched hold what they should (so an empty search means something).
    expect(dump).to.include(tokens[0]?.id);
    expect(exp.stdout).to.include("enroll.issue").and.include("enroll.refused").and.include("enroll.token.issue");
    expect(logs).to.include('"enroll request"');
    for (const t of tokens) {
      const secret = t.token.split(".")[3] as string;
      for (const [where, text] of [
        ["database", dump],
        ["log", logs],
        ["audit", exp.stdout],
        ...files.map((f, i) => [`file ${i}`, f] as const),
      ] as const) {
        expect(text.includes(t.token), `${where} holds a token`).to.equal(false);
        expect(text.includes(secret), `${where} holds a token's secret`).to.equal(false);
      }
    }
    const verify = await runCli(["audit", "verify", ...ca.cliArgs]);
    expect(verify.code, verify.stdout + verify.stderr).to.equal(0);
  });
});
