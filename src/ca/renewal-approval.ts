/**
 * An admin's decision on a renewal request made over the API: approve (the CA issues from the stored CSR) or reject.
 * One service for every admin front end (`certvault requests approve|reject` and the operator console); the caller
 * gives the audit trail that names the admin, and the clock.
 *
 * Approval claims the request only once its certificate exists: the CA signs first, then one transaction inserts the
 * certificate and moves the request pending -> issued with its serial (the claim runs as the insert's guard,
 * store/certificates.ts IssueGuard). So:
 * - a failed issuance (wrong CA passphrase, token away, CSR refused) leaves the request pending, nothing stored;
 * - of two approvers racing, the second claim waits on the first one's row lock (PostgreSQL) or transaction
 *   (SQLite), finds the request decided and throws: its insert rolls back with it. The loser's certificate was signed
 *   in memory only, never stored, returned or logged (its serial only in the failed `ca.issue` audit entry), so no
 *   orphan active certificate remains and nothing needs revoking.
 */
import { ConflictError, NotFoundError } from "../errors/index.js";
import type { OperationAudit } from "../audit/audited-operation.js";
import type { CertificateRequest, CertificateRequestRepository } from "../store/certificate-requests.js";
import type { CertificateRepository } from "../store/certificates.js";
import type { CertificateAuthority } from "./authority.js";

export interface RenewalApprovalDeps {
  ca: CertificateAuthority;
  requests: CertificateRequestRepository;
  registry: CertificateRepository;
  audit: OperationAudit;
  now: () => Date;
}

export type Decision = { id: string; status: "rejected" } | { id: string; status: "issued"; serial: string };

export class RenewalApproval {
  constructor(private readonly deps: RenewalApprovalDeps) {}

  /** Requests waiting for a decision, oldest first (`all`: every request). */
  list(all = false): Promise<CertificateRequest[]> {
    return this.deps.requests.list(all ? undefined : "pending");
  }

  async reject(id: string): Promise<Decision> {
    const req = await this.pending(id);
    await this.deps.audit.run({ action: "requests.reject", detail: { id, identity: req.identity } }, async () => {
      if (!(await this.deps.requests.decide(id, "rejected", null, this.deps.now())))
        throw new ConflictError(`request ${id} was decided meanwhile`);
    });
    return { id, status: "rejected" };
  }

  async approve(id: string, days: number): Promise<Decision> {
    const { deps } = this;
    const req = await this.pending(id);
    // The requester must still hold an active certificate: a request filed with a key that was revoked since
    // (reported stolen) is refused, not approved later from the queue.
    const requester = await deps.registry.get(req.requestedBy);
    if (!requester || requester.storedStatus !== "active" || requester.notAfter.getTime() < deps.now().getTime()) {
      await deps.requests.decide(id, "rejected", null, deps.now());
      throw new ConflictError(
        `request ${id} was made with certificate ${req.requestedBy}, which is no longer active; it is rejected`,
      );
    }
    const issued = await deps.audit.run(
      { action: "requests.approve", detail: { id, identity: req.identity, requestedBy: req.requestedBy } },
      () =>
        deps.ca.issueFromCsr(req.csr, {
          profile: "client",
          days,
          guard: async (trx, serial) => {
            if (!(await deps.requests.decide(id, "issued", serial, deps.now(), trx)))
              throw new ConflictError(`request ${id} was decided meanwhile`);
          },
        }),
      (r) => ({ serial: r.record.serial }),
    );
    return { id, status: "issued", serial: issued.record.serial };
  }

  private async pending(id: string): Promise<CertificateRequest> {
    const req = await this.deps.requests.get(id);
    if (!req) throw new NotFoundError(`no certificate request ${id}`);
    if (req.status !== "pending") throw new ConflictError(`request ${id} was already decided (${req.status})`);
    return req;
  }
}
