/**
 * The route table: every endpoint of the HTTP API in one place, each with the action the audit trail names and the
 * access kind the anomaly rules count, as data. Handlers are thin (parse, call a service, answer) and return what
 * the audit entry and the rules need (RouteOutcome); nothing reads the answer back. How an entry runs (its route
 * steps: write-ahead, guards, handler, read budget) is route-runner.ts.
 */
import Router from "@koa/router";
import { readBody } from "./body.js";
import { NotFoundError } from "../errors/index.js";
import { CMS_MEDIA_TYPE, parseLimit } from "./services/records.js";
import { MAX_GRANT_BYTES } from "../envelope/index.js";
import type { RecordService } from "./services/records.js";
import type { CertificateService } from "./services/certificates.js";
import type { Caller } from "./middleware/auth.js";
import type { Controls } from "./controls.js";
import type { CertificateDirectory, CrlSource } from "./ports.js";
import type { AppState, RouteContext } from "./state.js";
import { mount } from "./route-runner.js";
import type { RouteSpec } from "./route-runner.js";
import { createOnly, identityParam, ifMatch, mediaType, query } from "./request-input.js";
import { requireAdmin } from "./middleware/admin-gate.js";
import { writeAhead } from "./middleware/write-ahead.js";
import { readBudget } from "./middleware/read-budget.js";
import { consoleRoutes } from "./admin/router.js";
import type { ConsoleDeps } from "./admin/service.js";

/** A CSR is a few hundred bytes (RSA-3072 about 1.5 KiB); anything near this is not one. */
const MAX_CSR_BYTES = 64 * 1024;

export interface RouteDeps {
  records: RecordService;
  certificates: CertificateService;
  directory: CertificateDirectory;
  crl: CrlSource;
  maxRecordBytes: number;
  /** The operator console's reads and actions (server/admin/), mounted at /admin/. */
  console?: ConsoleDeps;
}

function apiRoutes(deps: RouteDeps): RouteSpec[] {
  const { records, certificates, directory } = deps;
  return [
    { method: "GET", path: "/v1/me", action: "me", kind: "me", handle: (ctx, c) => me(deps, ctx, c) },
    {
      method: "POST",
      path: "/v1/records",
      action: "records.create",
      kind: "create",
      async handle(ctx, c) {
        const id = await records.create(c, await readBody(ctx, deps.maxRecordBytes), mediaType(ctx));
        ctx.status = 201;
        ctx.body = { id };
        return { recordId: id };
      },
    },
    {
      method: "GET",
      path: "/v1/records",
      action: "records.list",
      kind: "list",
      async handle(ctx, c) {
        const cursor = query(ctx, "cursor");
        const page = await records.list(c, parseLimit(query(ctx, "limit")), cursor);
        ctx.body = page;
        return { list: { cursor: cursor !== undefined && cursor !== "", end: page.next === null } };
      },
    },
    {
      method: "GET",
      path: "/v1/records/:id",
      action: "records.get",
      kind: "get",
      async handle(ctx, c) {
        const { envelope, updatedAt, version } = await records.get(c, ctx.params.id ?? "");
        ctx.set("ETag", `"${version}"`);
        ctx.type = CMS_MEDIA_TYPE;
        ctx.body = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
        return { recordUpdatedAt: updatedAt };
      },
    },
    {
      method: "PUT",
      path: "/v1/records/:id",
      action: "records.update",
      kind: "update",
      handle: (x, c) => put(deps, x, c),
    },
    {
      method: "DELETE",
      path: "/v1/records/:id",
      action: "records.delete",
      kind: "delete",
      async handle(ctx, c) {
        await records.delete(c, ctx.params.id ?? "");
        ctx.status = 204;
      },
    },
    // Renewal: a CSR for a new key of the caller's own identity; 201 with the certificate, or 202 while an admin decides.
    {
      method: "POST",
      path: "/v1/certificates",
      action: "certificates.request",
      kind: "other",
      async handle(ctx, c) {
        const view = await certificates.request(c, await readBody(ctx, MAX_CSR_BYTES));
        ctx.status = view.status === "pending" ? 202 : 201;
        ctx.body = view;
      },
    },
    {
      method: "DELETE",
      path: "/v1/certificates/:serial",
      action: "certificates.revoke",
      kind: "other",
      async handle(ctx, c) {
        await certificates.revokeSelf(c, ctx.params.serial ?? "");
        ctx.status = 204;
        ctx.set("Connection", "close"); // this connection's certificate is revoked now
      },
    },
    {
      method: "GET",
      path: "/v1/certificates/requests/:requestId",
      action: "certificates.status",
      kind: "other",
      async handle(ctx, c) {
        ctx.body = await certificates.status(c, ctx.params.requestId ?? "");
      },
    },
    ...sharingRoutes(records),
    // The certificate directory: anyone's active certificates (public material), for sealing to them. The SDK
    // verifies every one against the pinned root before it seals to it.
    {
      method: "GET",
      path: "/v1/directory/:identity",
      action: "directory.get",
      kind: "other",
      async handle(ctx) {
        const identity = identityParam(ctx);
        const certs = await directory.activeCertificates(identity);
        if (certs.length === 0) throw new NotFoundError(`no active certificate for "${identity}"`);
        ctx.body = { identity, certificates: certs.map((c) => c.pem) };
      },
    },
    {
      method: "GET",
      path: "/v1/crl",
      action: "crl",
      kind: "crl",
      handle(ctx) {
        ctx.type = "application/pkix-crl";
        ctx.body = Buffer.from(deps.crl.crlDer);
      },
    },
  ];
}

async function me(deps: RouteDeps, ctx: RouteContext, c: Caller): Promise<void> {
  const certs = await deps.directory.activeCertificates(c.identity);
  ctx.body = {
    identity: c.identity,
    serial: c.serial,
    notAfter: new Date(c.notAfter).toISOString(),
    certificates: certs.map((r) => r.pem),
    recovery: (await deps.records.recovery()) ?? null,
  };
}

async function put(deps: RouteDeps, ctx: RouteContext, c: Caller): Promise<void> {
  const body = await readBody(ctx, deps.maxRecordBytes);
  const id = ctx.params.id ?? "";
  if (createOnly(ctx)) {
    // Create under an id the client chose (the SDK signs the id into the record before it seals it).
    await deps.records.createAt(c, id, body, mediaType(ctx));
    ctx.status = 201;
    ctx.set("ETag", '"1"');
    ctx.body = { id, version: 1 };
    return;
  }
  const version = await deps.records.replace(c, id, body, mediaType(ctx), ifMatch(ctx));
  ctx.set("ETag", `"${version}"`);
  ctx.body = { id, version };
}

/**
 * Sharing: the owner first re-wraps the envelope for the grantee's certificates (PUT /records/:id), then grants.
 * Each grant comes with the owner's signed statement (base64 DER; null for grants made before statements): the SDK
 * seals to a grantee only on a statement it verifies itself.
 */
function sharingRoutes(records: RecordService): RouteSpec[] {
  return [
    {
      method: "GET",
      path: "/v1/records/:id/grants",
      action: "records.grants",
      kind: "other",
      async handle(ctx, c) {
        const grants = await records.grants(c, ctx.params.id ?? "");
        ctx.body = {
          id: ctx.params.id,
          grantees: grants.map((g) => g.grantee),
          grants: grants.map((g) => ({
            grantee: g.grantee,
            statement: g.statement ? Buffer.from(g.statement).toString("base64") : null,
          })),
        };
      },
    },
    // Body: the owner's grant statement (envelope/grant.ts), DER.
    {
      method: "PUT",
      path: "/v1/records/:id/grants/:identity",
      action: "records.share",
      kind: "other",
      async handle(ctx, c) {
        const statement = await readBody(ctx, MAX_GRANT_BYTES);
        await records.grant(c, ctx.params.id ?? "", identityParam(ctx), statement, ifMatch(ctx));
        ctx.body = { id: ctx.params.id, grantee: identityParam(ctx) };
      },
    },
    {
      method: "DELETE",
      path: "/v1/records/:id/grants/:identity",
      action: "records.unshare",
      kind: "other",
      async handle(ctx, c) {
        await records.revokeGrant(c, ctx.params.id ?? "", identityParam(ctx), ifMatch(ctx));
        ctx.status = 204;
      },
    },
  ];
}

/** Operator endpoints, outside /v1: only identities configured as administrators. */
function operatorRoutes(deps: RouteDeps, controls: Controls): RouteSpec[] {
  const admin = requireAdmin(controls.adminIdentities);
  const metrics: RouteSpec = {
    method: "GET",
    path: "/metrics",
    action: "metrics",
    kind: "other",
    guards: [admin],
    async handle(ctx) {
      ctx.type = controls.metrics.registry.contentType;
      ctx.body = await controls.metrics.registry.metrics();
    },
  };
  // The operator console (server/admin/): same admins, same mutual TLS; 403 for anyone else on every /admin path.
  return [metrics, ...(deps.console ? consoleRoutes(deps.console, admin) : [])];
}

export function buildRouter(deps: RouteDeps, controls: Controls): Router<AppState> {
  // Strict and case-sensitive: one spelling per endpoint, the one the audit trail names. One router for every
  // endpoint: each router a request passes costs a matching pass.
  const router = new Router<AppState>({ strict: true, sensitive: true });
  const attempt = writeAhead(controls);
  const budget = readBudget(controls);
  for (const spec of [...apiRoutes(deps), ...operatorRoutes(deps, controls)]) mount(router, spec, attempt, budget);
  return router;
}
