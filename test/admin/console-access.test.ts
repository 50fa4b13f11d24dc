/**
 * The operator console's gate and its CSRF defence, over real mutual TLS (node:https, as curl would): a non-admin
 * identity gets 403 on every console path, existing or not, whatever the method; a forged POST with the admin's own
 * certificate (no token, a wrong token, a token of another certificate's session, a foreign or missing Origin, a
 * cross-site fetch) changes nothing and is audited as refused; the same POST done right does change things.
 */
import { expect } from "chai";
import { createTestCA, startTestServer } from "../../src/testing/index.js";
import type { TestCA, TestIdentity, TestServer } from "../../src/testing/index.js";
import { QuarantineRepository } from "../../src/store/quarantine.js";
import { call, errorCode, openSession, postForm } from "./helpers.js";
import { rowsIn } from "../helpers/db.js";

const PAGES = [
  "/admin/",
  "/admin/certificates",
  "/admin/certificates?q=ops",
  "/admin/requests",
  "/admin/tokens",
  "/admin/quarantines",
  "/admin/audit",
  "/admin/audit?identity=ops&action=admin.overview",
  "/admin/console.css",
];
const ACTIONS = [
  "/admin/certificates/revoke",
  "/admin/requests/approve",
  "/admin/requests/reject",
  "/admin/tokens/revoke",
  "/admin/quarantines/release",
  "/admin/audit/verify",
];
const ELSEWHERE = ["/admin", "/admin/nope", "/admin/../admin/", "/admin/certificates/", "/admin/console.css?x=1"];

describe("operator console: who gets in, and forged actions", function () {
  this.timeout(120_000);
  let ca: TestCA;
  let server: TestServer;
  let ops: TestIdentity;
  let ops2: TestIdentity;
  let bob: TestIdentity;

  before(async function () {
    ca = await createTestCA();
    [ops, ops2, bob] = await Promise.all([ca.issueClient("ops"), ca.issueClient("ops2"), ca.issueClient("bob")]);
    server = await startTestServer({ ca, config: { adminIdentities: ["ops", "ops2"] } });
  });
  after(async function () {
    await server.stop();
    await ca.cleanup();
  });

  it("an identity that is not an admin gets 403 admin_required on every console path and method, and no console content", async function () {
    const session = await openSession(ca, ops, server.url);
    const tries: { method: string; path: string }[] = [
      ...[...PAGES, ...ELSEWHERE].flatMap((path) =>
        ["GET", "HEAD", "POST", "DELETE"].map((method) => ({ method, path })),
      ),
      ...ACTIONS.flatMap((path) => ["POST", "GET"].map((method) => ({ method, path }))),
    ];
    for (const { method, path } of tries) {
      // Even with an admin's valid form token and cookie, and the right Origin.
      const a = await call(ca, bob, server.url + path, {
        method,
        headers: { origin: server.url, cookie: session.cookie, "content-type": "application/x-www-form-urlencoded" },
        body: method === "POST" ? `csrf=${session.token}&identity=bob` : undefined,
      });
      expect(a.status, `${method} ${path}`).to.equal(403);
      if (method !== "HEAD") expect(errorCode(a), `${method} ${path}`).to.equal("admin_required");
      expect(a.body).to.not.match(/certvault console|<html|csrf/i);
      expect(a.headers["set-cookie"], `${method} ${path}`).to.equal(undefined);
    }
    // The admin gets the pages (and the stylesheet) with the console's headers.
    for (const path of PAGES) {
      const a = await call(ca, ops, server.url + path);
      expect(a.status, path).to.equal(200);
      expect(a.headers["content-security-policy"]).to.equal(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(a.headers["x-content-type-options"]).to.equal("nosniff");
      expect(a.headers["referrer-policy"]).to.equal("same-origin");
      expect(a.headers["cache-control"]).to.equal("no-store");
    }
    const redirect = await call(ca, ops, `${server.url}/admin`);
    expect([redirect.status, redirect.headers.location]).to.deep.equal([302, "/admin/"]);
    expect((await call(ca, ops, `${server.url}/admin/nope`)).status).to.equal(404);
    // Every refusal is in the audit trail under bob.
    expect(await rowsIn(ca.db, "audit_entries", { actor: "bob", status: 403 })).to.equal(tries.length);
  });

  it("a forged POST with the admin's own certificate changes nothing; the same POST from the console's page does", async function () {
    const victim = await ca.issueClient("victim");
    await new QuarantineRepository(ca.db).add({
      identity: "victim",
      rule: "bulk_read",
      reason: "planted for this test",
      since: new Date(),
    });
    const session = await openSession(ca, ops, server.url);
    const other = await openSession(ca, ops2, server.url);
    const url = `${server.url}/admin/quarantines/release`;
    const revokeUrl = `${server.url}/admin/certificates/revoke`;
    const good = { origin: server.url, cookie: session.cookie };
    const forgeries: { name: string; form: Record<string, string>; headers: Record<string, string> }[] = [
      { name: "no token", form: { identity: "victim" }, headers: good },
      { name: "empty token", form: { identity: "victim", csrf: "" }, headers: good },
      {
        name: "wrong token",
        form: { identity: "victim", csrf: session.token.slice(0, -2) + (session.token.endsWith("AA") ? "BB" : "AA") },
        headers: good,
      },
      {
        name: "another admin's session (token and cookie of ops2's certificate)",
        form: { identity: "victim", csrf: other.token },
        headers: { origin: server.url, cookie: other.cookie },
      },
      {
        name: "token without its session cookie",
        form: { identity: "victim", csrf: session.token },
        headers: { origin: server.url },
      },
      {
        name: "foreign Origin",
        form: { identity: "victim", csrf: session.token },
        headers: { ...good, origin: "https://evil.example" },
      },
      {
        name: "Origin of another port",
        form: { identity: "victim", csrf: session.token },
        headers: { ...good, origin: server.url.replace(/:\d+$/, ":1") },
      },
      { name: "Origin null", form: { identity: "victim", csrf: session.token }, headers: { ...good, origin: "null" } },
      { name: "no Origin", form: { identity: "victim", csrf: session.token }, headers: { cookie: session.cookie } },
      {
        name: "cross-site fetch metadata",
        form: { identity: "victim", csrf: session.token },
        headers: { ...good, "sec-fetch-site": "cross-site" },
      },
    ];
    for (const f of forgeries) {
      const a = await postForm(ca, ops, url, f.form, f.headers);
      expect([a.status, errorCode(a)], f.name).to.deep.equal([403, "csrf_rejected"]);
      const r = await postForm(
        ca,
        ops,
        revokeUrl,
        { ...f.form, serial: victim.serial, reason: "keyCompromise" },
        f.headers,
      );
      expect([r.status, errorCode(r)], `revoke: ${f.name}`).to.deep.equal([403, "csrf_rejected"]);
    }
    // A text/plain "form" (what a cross-site page can send without a preflight) is not a console form.
    const plain = await call(ca, ops, url, {
      method: "POST",
      headers: good,
      body: `identity=victim&csrf=${session.token}`,
    });
    expect(plain.status).to.equal(400);

    expect((await new QuarantineRepository(ca.db).list()).map((q) => q.identity)).to.include("victim");
    expect(
      ((await ca.db("certificates").where({ serial: victim.serial }).first("status")) as { status: string }).status,
    ).to.equal("active");
    expect(
      await ca.db("audit_entries").whereIn("action", ["quarantine.release", "ca.revoke"]).where({ actor: "ops" }),
    ).to.have.length(0);
    const refusals = (await ca
      .db("audit_entries")
      .where({ actor: "ops", status: 403 })
      .whereIn("action", ["admin.quarantines.release", "admin.certificates.revoke"])
      .select("detail")) as { detail: string }[];
    expect(refusals.map((r) => (JSON.parse(r.detail) as { code: string }).code)).to.deep.equal(
      Array(forgeries.length * 2).fill("csrf_rejected"),
    );

    // The control: the same release with the session's token, cookie and Origin goes through, audited under ops.
    const ok = await postForm(ca, ops, url, { identity: "victim", csrf: session.token }, good);
    expect([ok.status, ok.headers.location]).to.deep.equal([303, "/admin/quarantines?done=released"]);
    expect(await new QuarantineRepository(ca.db).list()).to.have.length(0);
    const done = (await ca
      .db("audit_entries")
      .where({ actor: "ops", action: "quarantine.release" })
      .select("detail")) as { detail: string }[];
    expect(done.map((r) => JSON.parse(r.detail) as Record<string, string>)).to.deep.include({
      identity: "victim",
      phase: "done",
    });
  });
});
