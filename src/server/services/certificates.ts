/**
 * Renewal over mTLS: an identity asks for a certificate for a new key (a CSR with its own CN). The CA issues at once
 * under the "auto" policy, or the request waits for an admin (`certvault requests approve ID`) under "manual", the
 * default: a stolen key that could mint its own successor would outlive its revocation. Either way an identity's
 * requests and self-revocations are budgeted per window and the caps hold under concurrency (store/issuance-budget.ts).
 */
import { randomBytes } from "node:crypto";
import {
  ConflictError,
  CsrRejectedError,
  NotFoundError,
  RenewalLimitedError,
  SelfRevocationLimitedError,
} from "../../errors/index.js";
import { vetCsr } from "../../ca/csr.js";
import { DEFAULT_DAYS } from "../../ca/profiles.js";
import type { CertificateAuthority } from "../../ca/authority.js";
import type { CertificateRepository } from "../../store/certificates.js";
import type { CertificateRequest, CertificateRequestRepository } from "../../store/certificate-requests.js";
import type { Budget, IssuanceBudget } from "../../store/issuance-budget.js";
import type { Caller } from "../middleware/auth.js";

export type RenewalPolicy = "manual" | "auto";

/** Under auto-approval, no issuance while the identity already has this many active certificates. */
export const MAX_ACTIVE_AUTO = 3;

const spell = (b: Budget): string => `${b.points} per ${b.seconds} s`;

export interface RequestView {
  id: string;
  status: CertificateRequest["status"];
  serial?: string;
  certificate?: string;
}

export class CertificateService {
  constructor(
    private readonly requests: CertificateRequestRepository,
    private readonly registry: CertificateRepository,
    private readonly ca: CertificateAuthority,
    private readonly policy: RenewalPolicy,
    private readonly now: () => Date,
    private readonly budget: IssuanceBudget,
  ) {}

  async request(caller: Caller, body: Uint8Array): Promise<RequestView> {
    const vetted = await vetCsr(body.length > 0 && body[0] === 0x2d ? new TextDecoder().decode(body) : body);
    if (vetted.commonName !== caller.identity) {
      throw new CsrRejectedError(
        `the CSR is for "${vetted.commonName}"; an identity can only ask for its own certificates`,
      );
    }
    const id = randomBytes(16).toString("hex");
    const base = {
      id,
      identity: caller.identity,
      csr: vetted.csr.toString("pem"),
      requestedBy: caller.serial,
      createdAt: this.now(),
    };
    // Auto-approval still caps what one key can mint: a stolen key must not fill the identity with certificates
    // (each would become a recipient of server-sealed records). The row is the reservation: inserted (budget and
    // caps checked under the identity's lock) before anything is signed.
    const auto = this.policy === "auto";
    const refusal = await this.budget.reserveRequest(
      { ...base, status: auto ? "issued" : "pending", serial: null },
      base.createdAt,
      auto,
    );
    if (refusal?.refused === "limit")
      throw new RenewalLimitedError(refusal.retryAfterSeconds, spell(this.budget.limits.renewal));
    if (refusal?.refused === "pending")
      throw new ConflictError("a certificate request of this identity is already waiting for an admin");
    if (refusal?.refused === "cap")
      throw new ConflictError(
        `"${caller.identity}" already has ${refusal.active} active certificates; ask an admin, or revoke one first`,
      );
    if (!auto) return { id, status: "pending" };
    let issued;
    try {
      issued = await this.ca.issueFromCsr(body, { profile: "client", days: DEFAULT_DAYS.client });
    } catch (err) {
      await this.budget.release(id);
      throw err;
    }
    await this.requests.setSerial(id, issued.record.serial);
    return { id, status: "issued", serial: issued.record.serial, certificate: issued.pem };
  }

  /**
   * A certificate revokes itself (reason superseded): the last step of a rotation. Only itself: a stolen key must
   * not be able to revoke its owner's other certificates.
   */
  async revokeSelf(caller: Caller, serial: string): Promise<void> {
    if (serial.toLowerCase() !== caller.serial) throw new NotFoundError("a certificate can only revoke itself");
    // Budgeted: each revocation grows the CRL that every node re-signs and every client fetches.
    const over = this.budget.selfRevocationGuard(caller.identity, this.now());
    const limit = this.budget.limits.selfRevocation;
    await this.ca.revoke(caller.serial, "superseded", {
      guard: async (trx) => {
        const wait = await over(trx);
        if (wait !== undefined) throw new SelfRevocationLimitedError(wait, spell(limit));
      },
    });
  }

  async status(caller: Caller, id: string): Promise<RequestView> {
    const r = /^[0-9a-f]{32}$/.test(id) ? await this.requests.getFor(caller.identity, id) : null;
    if (!r) throw new NotFoundError();
    if (r.status !== "issued" || !r.serial) return { id, status: r.status };
    const cert = await this.registry.get(r.serial);
    return { id, status: "issued", serial: r.serial, ...(cert ? { certificate: cert.pem } : {}) };
  }
}
