/**
 * The route table: every endpoint of the HTTP API in one place, each with the action the audit trail names and the
 * access kind the anomaly rules count, as data. Handlers are thin (parse, call a service, answer), live by area in
 * handlers/ (records and sharing; certificates, directory, CRL), and return what the audit entry and the rules need
 * (RouteOutcome); nothing reads the answer back. How an entry runs (its route steps: write-ahead, guards, handler,
 * read budget) is route-runner.ts.
 */
import type { RecordService } from "./services/records.js";
import type { CertificateService } from "./services/certificates.js";
import type { Controls } from "./controls.js";
import type { CertificateDirectory, CrlSource } from "./ports.js";
import { mount } from "./route-runner.js";
import { RouteTable } from "./route-table.js";
import type { RouteSpec } from "./route-runner.js";
import { requireAdmin } from "./middleware/admin-gate.js";
import { writeAhead } from "./middleware/write-ahead.js";
import { readBudget } from "./middleware/read-budget.js";
import { consoleRoutes } from "./admin/router.js";
import type { ConsoleDeps } from "./admin/service.js";
import { recordHandlers } from "./handlers/records.js";
import { certificateHandlers, directoryHandlers } from "./handlers/certificates.js";

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
  const rec = recordHandlers(deps.records, deps.maxRecordBytes);
  const cert = certificateHandlers(deps.certificates);
  const dir = directoryHandlers(deps.directory, deps.records, deps.crl);
  return [
    { method: "GET", path: "/v1/me", action: "me", kind: "me", handle: dir.me },
    { method: "POST", path: "/v1/records", action: "records.create", kind: "create", handle: rec.create },
    { method: "GET", path: "/v1/records", action: "records.list", kind: "list", handle: rec.list },
    { method: "GET", path: "/v1/records/:id", action: "records.get", kind: "get", handle: rec.get },
    { method: "PUT", path: "/v1/records/:id", action: "records.update", kind: "update", handle: rec.put },
    { method: "DELETE", path: "/v1/records/:id", action: "records.delete", kind: "delete", handle: rec.delete },
    { method: "POST", path: "/v1/certificates", action: "certificates.request", kind: "other", handle: cert.request },
    {
      method: "DELETE",
      path: "/v1/certificates/:serial",
      action: "certificates.revoke",
      kind: "other",
      handle: cert.revoke,
    },
    {
      method: "GET",
      path: "/v1/certificates/requests/:requestId",
      action: "certificates.status",
      kind: "other",
      handle: cert.status,
    },
    { method: "GET", path: "/v1/records/:id/grants", action: "records.grants", kind: "other", handle: rec.grants },
    {
      method: "PUT",
      path: "/v1/records/:id/grants/:identity",
      action: "records.share",
      kind: "other",
      handle: rec.share,
    },
    {
      method: "DELETE",
      path: "/v1/records/:id/grants/:identity",
      action: "records.unshare",
      kind: "other",
      handle: rec.unshare,
    },
    { method: "GET", path: "/v1/directory/:identity", action: "directory.get", kind: "other", handle: dir.directory },
    { method: "GET", path: "/v1/crl", action: "crl", kind: "crl", handle: dir.crl },
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

export function buildRoutes(deps: RouteDeps, controls: Controls): RouteTable {
  // Strict and case-sensitive: one spelling per endpoint, the one the audit trail names (route-table.ts).
  const table = new RouteTable();
  const attempt = writeAhead(controls);
  const budget = readBudget(controls);
  for (const spec of [...apiRoutes(deps), ...operatorRoutes(deps, controls)]) mount(table, spec, attempt, budget);
  return table;
}
