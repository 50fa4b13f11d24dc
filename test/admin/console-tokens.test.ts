/**
 * The console's enrollment-token page, over real mutual TLS (node:https, as curl would): tokens made with the CLI
 * (`certvault ca token`, a child process) are listed with their id, identity, times and status, and nothing of the
 * token or its hash is in the page; hostile identities come out escaped; "Revoke" is a POST through the CSRF and
 * Origin guard that revokes through the code path of `ca token --revoke` (audited under the admin), after which the
 * CLI lists the token as revoked and the enrollment listener refuses it; forged POSTs and non-admins change nothing.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { runCli } from "../helpers/cli.js";
import { makeCsr } from "../helpers/ca-fixture.js";
import { enrollRequest, makeToken } from "../enroll/helpers.js";
import type { TokenJson } from "../enroll/helpers.js";
import { call, errorCode, openSession, postForm } from "./helpers.js";

const HOSTILE = `<script>alert("x")</script> <img src=x onerror=alert(1)> & 'q'`;

interface Listed {
  id: string;
  identity: string;
  status: string;
}

describe("operator console: enrollment tokens", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let ops: TestIdentity;
  let bob: TestIdentity;

  const listed = async (): Promise<Listed[]> => {
    const r = await runCli(["ca", "token", "--list", "--json", ...ca.cliArgs]);
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as Listed[];
  };
  const statusOf = async (id: string): Promise<string | undefined> => (await listed()).find((t) => t.id === id)?.status;
  const hashOf = async (id: string): Promise<string> =>
    ((await ca.db("enrollment_tokens").where({ id }).first("token_hash")) as { token_hash: string }).token_hash;
  const auditOf = async (
    action: string,
    actor: string,
  ): Promise<{ status: number; detail: Record<string, unknown> | null }[]> =>
    (
      (await ca.db("audit_entries").where({ action, actor }).orderBy("seq").select("status", "detail")) as {
        status: number | string;
        detail: string | null;
      }[]
    ).map((r) => ({
      status: Number(r.status),
      detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
    }));
  const tokensPage = async (): Promise<string> => {
    const a = await call(ca, ops, `${server.url}/admin/tokens`);
    expect(a.status).to.equal(200);
    return a.body;
  };

  before(async function () {
    ca = await createTestCA();
    [ops, bob] = await Promise.all([ca.issueClient("ops"), ca.issueClient("bob")]);
    server = await startTestServer({ ca, config: { adminIdentities: ["ops"], enrollPort: 0 } });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("lists a token made with the CLI (id, identity, created, expires, status) in the navigation's page, never the token or its hash; hostile identities escaped", async function () {
    const t = await makeToken(ca, "alice");
    const evil = await makeToken(ca, HOSTILE);
    const overview = await call(ca, ops, `${server.url}/admin/`);
    expect(overview.body).to.include(`<a href="/admin/tokens">Enrollment tokens</a>`);

    const body = await tokensPage();
    expect(body).to.include(`<a href="/admin/tokens" aria-current="page">Enrollment tokens</a>`);
    const row = new RegExp(
      `<tr><td class="mono">${t.id}</td><td class="wrap">alice</td><td><time datetime="([^"]+)">[^<]+</time></td><td><time datetime="${t.expiresAt}">[^<]+</time></td><td>active</td><td><form class="inline" method="post" action="/admin/tokens/revoke">`,
    ).exec(body);
    expect(row, "alice's row, with its Revoke form").to.not.equal(null);
    const created = (await listed()).find((x) => x.id === t.id) as Listed & { createdAt: string };
    expect(row?.[1]).to.equal(created.createdAt);
    expect(body).to.include(`<input type="hidden" name="id" value="${t.id}">`);

    // Nothing of either token, nor of its stored hash, in any spelling.
    for (const tok of [t, evil]) {
      const hash = await hashOf(tok.id);
      for (const secret of [
        tok.token,
        tok.token.split(".")[3] ?? "",
        hash,
        hash.toUpperCase(),
        Buffer.from(hash, "hex").toString("base64"),
        Buffer.from(hash, "hex").toString("base64url"),
      ]) {
        expect(secret.length).to.be.greaterThan(20);
        expect(body, "a token or its hash in the page").to.not.include(secret);
      }
    }
    // The hostile identity is text, in the table cell and in the button's label alike.
    expect(body).to.not.include("<script>").and.not.include("<img");
    const escaped =
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; &amp; &#39;q&#39;";
    expect(body).to.include(`<td class="wrap">${escaped}</td>`);
    expect(body).to.include(`aria-label="Revoke enrollment token ${evil.id} (${escaped})"`);
  });

  it("Revoke through a proper POST: audited under the admin as the CLI's revoke is, `ca token --list` says revoked, enrollment refuses the token", async function () {
    const t = await makeToken(ca, "carol");
    const session = await openSession(ca, ops, server.url, "/admin/tokens");
    const ok = await postForm(
      ca,
      ops,
      `${server.url}/admin/tokens/revoke`,
      { id: t.id, csrf: session.token },
      { origin: server.url, cookie: session.cookie },
    );
    expect([ok.status, ok.headers.location]).to.deep.equal([303, "/admin/tokens?done=token-revoked"]);
    expect(await statusOf(t.id)).to.equal("revoked");

    // The same entries `ca token --revoke` writes, with the admin's identity as the actor.
    expect(await auditOf("enroll.token.revoke", "ops")).to.deep.equal([
      { status: 0, detail: { tokenId: t.id, phase: "attempt" } },
      { status: 0, detail: { tokenId: t.id, phase: "done" } },
    ]);
    expect((await auditOf("admin.tokens.revoke", "ops")).map((e) => e.status)).to.deep.equal([0, 303]);

    // The enrollment listener refuses it.
    const csr = readFileSync((await makeCsr(ca.home, "ec-p256", "carol")).csr, "utf8");
    const enrolled = await enrollRequest(server.enrollUrl as string, ca.rootPem, {
      body: JSON.stringify({ token: t.token, csr }),
    });
    expect([enrolled.status, errorCode(enrolled)]).to.deep.equal([401, "invalid_token"]);
    const refused = await ca
      .db("audit_entries")
      .where({ action: "enroll.refused" })
      .orderBy("seq", "desc")
      .first("detail");
    expect(JSON.parse((refused as { detail: string }).detail)).to.deep.include({ reason: "revoked", tokenId: t.id });

    // The page shows it revoked, with no Revoke button, and the notice.
    const after = await call(ca, ops, `${server.url}/admin/tokens?done=token-revoked`);
    expect(after.body).to.include("The enrollment token is revoked");
    expect(after.body).to.include(`<tr><td class="mono">${t.id}</td><td class="wrap">carol</td>`);
    expect(after.body).to.not.include(`value="${t.id}"`);
    expect(after.body).to.match(new RegExp(`${t.id}</td><td class="wrap">carol</td>.*?<td>revoked</td>`));

    // A second revoke is a conflict, shown on the page and audited as failed; an id of the wrong shape is a 400.
    const again = await postForm(
      ca,
      ops,
      `${server.url}/admin/tokens/revoke`,
      { id: t.id, csrf: session.token },
      { origin: server.url, cookie: session.cookie },
    );
    expect(again.status).to.equal(409);
    expect(again.body).to.include("is already revoked");
    expect((await auditOf("enroll.token.revoke", "ops")).map((e) => e.detail?.phase)).to.deep.equal([
      "attempt",
      "done",
      "attempt",
      "failed",
    ]);
    const bad = await postForm(
      ca,
      ops,
      `${server.url}/admin/tokens/revoke`,
      { id: `${t.id}<x>`, csrf: session.token },
      { origin: server.url, cookie: session.cookie },
    );
    expect(bad.status).to.equal(400);
    expect(bad.body).to.not.include("<x>");
  });

  it("a forged POST (no or wrong CSRF token, foreign or no Origin, another session) changes nothing and is audited as refused", async function () {
    const t: TokenJson = await makeToken(ca, "dora");
    const session = await openSession(ca, ops, server.url, "/admin/tokens");
    const other = await openSession(ca, ops, server.url, "/admin/tokens");
    const good = { origin: server.url, cookie: session.cookie };
    const forgeries: { name: string; form: Record<string, string>; headers: Record<string, string> }[] = [
      { name: "no token", form: { id: t.id }, headers: good },
      { name: "empty token", form: { id: t.id, csrf: "" }, headers: good },
      {
        name: "wrong token",
        form: { id: t.id, csrf: session.token.slice(0, -2) + (session.token.endsWith("AA") ? "BB" : "AA") },
        headers: good,
      },
      { name: "another session's token", form: { id: t.id, csrf: other.token }, headers: good },
      { name: "token without its cookie", form: { id: t.id, csrf: session.token }, headers: { origin: server.url } },
      {
        name: "foreign Origin",
        form: { id: t.id, csrf: session.token },
        headers: { ...good, origin: "https://evil.example" },
      },
      { name: "Origin null", form: { id: t.id, csrf: session.token }, headers: { ...good, origin: "null" } },
      { name: "no Origin", form: { id: t.id, csrf: session.token }, headers: { cookie: session.cookie } },
      {
        name: "cross-site fetch metadata",
        form: { id: t.id, csrf: session.token },
        headers: { ...good, "sec-fetch-site": "cross-site" },
      },
    ];
    const before = (await auditOf("enroll.token.revoke", "ops")).length;
    for (const f of forgeries) {
      const a = await postForm(ca, ops, `${server.url}/admin/tokens/revoke`, f.form, f.headers);
      expect([a.status, errorCode(a)], f.name).to.deep.equal([403, "csrf_rejected"]);
    }
    expect(await statusOf(t.id)).to.equal("active");
    expect(await auditOf("enroll.token.revoke", "ops")).to.have.length(before);
    const refusals = (await auditOf("admin.tokens.revoke", "ops")).filter((e) => e.status === 403);
    expect(refusals.map((e) => e.detail?.code)).to.deep.equal(Array(forgeries.length).fill("csrf_rejected"));
    // And it still works: the token is usable, so the CLI can revoke it.
    expect((await runCli(["ca", "token", "--revoke", t.id, ...ca.cliArgs])).code).to.equal(0);
  });

  it("an identity that is not an admin gets 403 on the page and the action (even with an admin's session), and the token stays active", async function () {
    const t = await makeToken(ca, "erin");
    const session = await openSession(ca, ops, server.url, "/admin/tokens");
    for (const method of ["GET", "HEAD", "POST"]) {
      const a = await call(ca, bob, `${server.url}/admin/tokens`, { method });
      expect(a.status, method).to.equal(403);
      if (method !== "HEAD") expect(errorCode(a)).to.equal("admin_required");
      expect(a.body).to.not.include(t.id);
    }
    for (const method of ["POST", "GET"]) {
      const a = await call(ca, bob, `${server.url}/admin/tokens/revoke`, {
        method,
        headers: { origin: server.url, cookie: session.cookie, "content-type": "application/x-www-form-urlencoded" },
        body: method === "POST" ? new URLSearchParams({ id: t.id, csrf: session.token }).toString() : undefined,
      });
      expect([a.status, errorCode(a)], method).to.deep.equal([403, "admin_required"]);
      expect(a.headers["set-cookie"]).to.equal(undefined);
    }
    expect(await statusOf(t.id)).to.equal("active");
    expect(await ca.db("audit_entries").where({ action: "enroll.token.revoke", actor: "bob" })).to.have.length(0);
  });
});
