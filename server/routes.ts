/** The route table: every endpoint of the HTTP API in one place; handlers are thin (parse, call a service, answer). */
import Router from "@koa/router";
import type { Context } from "koa";
import { readBody } from "./body.js";
import { InvalidInputError, InvalidQueryError, NotFoundError } from "../errors/index.js";
import { identityProblem } from "../ca/profiles.js";
import { CMS_MEDIA_TYPE, parseLimit } from "./services/records.js";
import { MAX_GRANT_BYTES } from "../envelope/index.js";
import type { RecordService } from "./services/records.js";
import type { RegistryWatcher } from "./registry-watch.js";
import type { Caller } from "./auth.js";
import type { CertificateService } from "./services/certificates.js";

/** A CSR is a few hundred bytes (RSA-3072 about 1.5 KiB); anything near this is not one. */
const MAX_CSR_BYTES = 64 * 1024;
import { audited, requireAdmin } from "./controls.js";
import type { ControlsDeps } from "./controls.js";
import type { AccessAction } from "../abuse/rules.js";
import { mountConsole } from "./admin/router.js";
import type { ConsoleDeps } from "./admin/service.js";

export interface RouteDeps {
  records: RecordService;
  certificates: CertificateService;
  registry: RegistryWatcher;
  maxRecordBytes: number;
  /** The operator console's reads and actions (server/admin/); mounted at /admin/ when the controls are on. */
  console?: ConsoleDeps;
}

function caller(ctx: Context): Caller {
  return ctx.state.caller as Caller;
}

function mediaType(ctx: Context): string {
  return (ctx.get("content-type").split(";")[0] ?? "").trim().toLowerCase();
}

function query(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  return Array.isArray(v) ? v[0] : v;
}

/** An identity named in the path: decoded, and held to the same rule as a certificate's CN. */
function identityParam(ctx: Context): string {
  const raw = ctx.params.identity ?? "";
  const problem = identityProblem(raw);
  if (problem) throw new InvalidInputError(`identity: ${problem}`);
  return raw;
}

/** If-Match: the ETag a GET returned ("3"); absent means "replace whatever is there now". */
function ifMatch(ctx: Context): number | undefined {
  const raw = ctx.get("if-match");
  if (raw === "") return undefined;
  const m = /^"(\d{1,15})"$/.exec(raw.trim());
  if (!m) throw new InvalidQueryError('If-Match must be the ETag a GET returned, e.g. "3"');
  return Number(m[1]);
}

/** If-None-Match: * asks for "create, never replace"; any other value is not something a record PUT understands. */
function createOnly(ctx: Context): boolean {
  const raw = ctx.get("if-none-match").trim();
  if (raw === "") return false;
  if (raw !== "*") throw new InvalidQueryError('If-None-Match must be "*" (create only) or absent');
  if (ctx.get("if-match") !== "") throw new InvalidQueryError("If-Match and If-None-Match exclude each other");
  return true;
}

export function buildRouter(deps: RouteDeps, controls?: ControlsDeps): Router {
  // Strict and case-sensitive: one spelling per endpoint, the one the audit trail names. One router for every
  // endpoint: each router a request passes costs a matching pass.
  const router = new Router({ strict: true, sensitive: true });
  const as = (action: string, kind: AccessAction) => audited(action, kind, controls);

  router.get("/v1/me", as("me", "me"), async (ctx) => {
    const c = caller(ctx);
    const certs = await deps.registry.activeCertificates(c.identity);
    ctx.body = {
      identity: c.identity,
      serial: c.serial,
      notAfter: new Date(c.notAfter).toISOString(),
      certificates: certs.map((r) => r.pem),
      recovery: deps.records.recovery() ?? null,
    };
  });

  router.post("/v1/records", as("records.create", "create"), async (ctx) => {
    const body = await readBody(ctx, deps.maxRecordBytes);
    const id = await deps.records.create(caller(ctx), body, mediaType(ctx));
    ctx.state.recordId = id; // for the audit entry
    ctx.status = 201;
    ctx.body = { id };
  });

  router.get("/v1/records", as("records.list", "list"), async (ctx) => {
    ctx.body = await deps.records.list(caller(ctx), parseLimit(query(ctx, "limit")), query(ctx, "cursor"));
  });

  router.get("/v1/records/:id", as("records.get", "get"), async (ctx) => {
    const { envelope, updatedAt, version } = await deps.records.get(caller(ctx), ctx.params.id ?? "");
    ctx.state.recordUpdatedAt = updatedAt; // for the stale-record rule
    ctx.set("ETag", `"${version}"`);
    ctx.type = CMS_MEDIA_TYPE;
    ctx.body = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  });

  router.put("/v1/records/:id", as("records.update", "update"), async (ctx) => {
    const body = await readBody(ctx, deps.maxRecordBytes);
    const id = ctx.params.id ?? "";
    if (createOnly(ctx)) {
      // Create under an id the client chose (the SDK signs the id into the record before it seals it).
      await deps.records.createAt(caller(ctx), id, body, mediaType(ctx));
      ctx.state.recordId = id; // for the audit entry
      ctx.status = 201;
      ctx.set("ETag", '"1"');
      ctx.body = { id, version: 1 };
      return;
    }
    const version = await deps.records.replace(caller(ctx), id, body, mediaType(ctx), ifMatch(ctx));
    ctx.set("ETag", `"${version}"`);
    ctx.body = { id, version };
  });

  router.delete("/v1/records/:id", as("records.delete", "delete"), async (ctx) => {
    await deps.records.delete(caller(ctx), ctx.params.id ?? "");
    ctx.status = 204;
  });

  // Renewal: a CSR for a new key of the caller's own identity; 201 with the certificate, or 202 while an admin decides.
  router.post("/v1/certificates", as("certificates.request", "other"), async (ctx) => {
    const view = await deps.certificates.request(caller(ctx), await readBody(ctx, MAX_CSR_BYTES));
    ctx.status = view.status === "pending" ? 202 : 201;
    ctx.body = view;
  });

  router.delete("/v1/certificates/:serial", as("certificates.revoke", "other"), async (ctx) => {
    await deps.certificates.revokeSelf(caller(ctx), ctx.params.serial ?? "");
    ctx.status = 204;
    ctx.set("Connection", "close"); // this connection's certificate is revoked now
  });

  router.get("/v1/certificates/requests/:requestId", as("certificates.status", "other"), async (ctx) => {
    ctx.body = await deps.certificates.status(caller(ctx), ctx.params.requestId ?? "");
  });

  // Sharing: the owner first re-wraps the envelope for the grantee's certificates (PUT /records/:id), then grants.
  // Each grant comes with the owner's signed statement (base64 DER; null for grants made before statements): the
  // SDK seals to a grantee only on a statement it verifies itself.
  router.get("/v1/records/:id/grants", as("records.grants", "other"), async (ctx) => {
    const grants = await deps.records.grants(caller(ctx), ctx.params.id ?? "");
    ctx.body = {
      id: ctx.params.id,
      grantees: grants.map((g) => g.grantee),
      grants: grants.map((g) => ({
        grantee: g.grantee,
        statement: g.statement ? Buffer.from(g.statement).toString("base64") : null,
      })),
    };
  });

  // Body: the owner's grant statement (envelope/grant.ts), DER.
  router.put("/v1/records/:id/grants/:identity", as("records.share", "other"), async (ctx) => {
    const statement = await readBody(ctx, MAX_GRANT_BYTES);
    await deps.records.grant(caller(ctx), ctx.params.id ?? "", identityParam(ctx), statement, ifMatch(ctx));
    ctx.body = { id: ctx.params.id, grantee: identityParam(ctx) };
  });

  router.delete("/v1/records/:id/grants/:identity", as("records.unshare", "other"), async (ctx) => {
    await deps.records.revokeGrant(caller(ctx), ctx.params.id ?? "", identityParam(ctx), ifMatch(ctx));
    ctx.status = 204;
  });

  // The certificate directory: anyone's active certificates (public material), for sealing to them. The SDK
  // verifies every one against the pinned root before it seals to it.
  router.get("/v1/directory/:identity", as("directory.get", "other"), async (ctx) => {
    const identity = identityParam(ctx);
    const certs = await deps.registry.activeCertificates(identity);
    if (certs.length === 0) throw new NotFoundError(`no active certificate for "${identity}"`);
    ctx.body = { identity, certificates: certs.map((c) => c.pem) };
  });

  router.get("/v1/crl", as("crl", "crl"), (ctx) => {
    ctx.type = "application/pkix-crl";
    ctx.body = Buffer.from(deps.registry.crlDer);
  });

  // Operator endpoints, outside /v1: only identities configured as administrators.
  if (controls) {
    router.get("/metrics", as("metrics", "other"), requireAdmin(controls.adminIdentities), async (ctx) => {
      ctx.type = controls.metrics.registry.contentType;
      ctx.body = await controls.metrics.registry.metrics();
    });
    // The operator console (server/admin/): same admins, same mutual TLS; 403 for anyone else on every /admin path.
    if (deps.console) mountConsole(router, deps.console, controls.adminIdentities, as);
  }

  return router;
}
