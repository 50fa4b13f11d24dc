/**
 * An admin's decision on a renewal request made over the API: approve (the CA issues from the stored CSR) or reject.
 * One code path for every admin front end (`certvault requests approve|reject` and the operator console); the caller
 * gives the audit trail that names the admin.
 */
import { ConflictError, NotFoundError } from "../errors/index.js";
import type { OperationAudit } from "../audit/audited-operation.js";
import type { CertificateRequestRepository } from "../store/certificate-requests.js";
import type { CertificateRepository } from "../store/certificates.js";
import type { CertificateAuthority } from "./authority.js";

export interface DecisionDeps {
  ca: CertificateAuthority;
  requests: CertificateRequestRepository;
  registry: CertificateRepository;
  audit: OperationAudit;
  now: () => Date;
}

export type Decision = { id: string; status: "rejected" } | { id: string; status: "issued"; serial: string };

export async function rejectRequest(deps: DecisionDeps, id: string): Promise<Decision> {
  const req = await pending(deps, id);
  await deps.audit.run({ action: "requests.reject", detail: { id, identity: req.identity } }, async () => {
    if (!(await deps.requests.decide(id, "rejected", null, deps.now())))
      throw new ConflictError(`request ${id} was decided meanwhile`);
  });
  return { id, status: "rejected" };
}

export async function approveRequest(deps: DecisionDeps, id: string, days: number): Promise<Decision> {
  const req = await pending(deps, id);
  // The requester must still hold an active certificate: a request filed with a key that was revoked since
  // (reported stolen) is refused, not approved later from the queue.
  const requester = await deps.registry.get(req.requestedBy);
  if (!requester || requester.storedStatus !== "active" || requester.notAfter.getTime() < deps.now().getTime()) {
    await deps.requests.decide(id, "rejected", null, deps.now());
    throw new ConflictError(
      `request ${id} was made with certificate ${req.requestedBy}, which is no longer active; it is rejected`,
    );
  }
  // Claim the request first, so that two admins approving at once cannot both issue.
  if (!(await deps.requests.decide(id, "issued", null, deps.now())))
    throw new ConflictError(`request ${id} was decided meanwhile`);
  const issued = await deps.audit.run(
    { action: "requests.approve", detail: { id, identity: req.identity, requestedBy: req.requestedBy } },
    () => deps.ca.issueFromCsr(req.csr, { profile: "client", days }),
    (r) => ({ serial: r.record.serial }),
  );
  await deps.requests.setSerial(id, issued.record.serial);
  return { id, status: "issued", serial: issued.record.serial };
}

async function pending(deps: DecisionDeps, id: string) {
  const req = await deps.requests.get(id);
  if (!req) throw new NotFoundError(`no certificate request ${id}`);
  if (req.status !== "pending") throw new ConflictError(`request ${id} was already decided (${req.status})`);
  return req;
}
