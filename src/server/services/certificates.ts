/**
 * Renewal over mTLS: an identity asks for a certificate for a new key (a CSR with its own CN). The CA issues at once
 * under the "auto" policy, or the request waits for an admin (`certvault requests approve ID`) under "manual", the
 * default: a stolen key that could mint its own successor would outlive its revocation. Either way an identity's
 * requests and self-revocations are budgeted per window and the caps hold under concurrency (store/issuance-budget.ts).
 *
 * Under "auto" the request is claimed only once its certificate exists (as an admin's approval is:
 * ca/renewal-approval.ts): the reservation row reads "issuing" until the transaction that stores the certificate
 * turns it "issued" with its serial. A reservation left behind (a failed issuance whose release failed too, a node that
 * died mid-issue) never reads "issued": its requester sees "issuing", then "failed" once it is RESERVATION_MS old, when
 * it can no longer be claimed; it keeps spending the renewal budget.
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
import { shownStatus } from "../../store/certificate-requests.js";
import type { Budget, IssuanceBudget } from "../../store/issuance-budget.js";
import type { Caller } from "../middleware/auth.js";

export type RenewalPolicy = "manual" | "auto";

/** Under auto-approval, no issuance while the identity already has this many active certificates. */
export const MAX_ACTIVE_AUTO = 3;

const spell = (b: Budget): string => `${b.points} per ${b.seconds} s`;

export interface RequestView {
  id: string;
  /** "failed": an auto-policy reservation that never got its certificate and no longer can (ask again). */
  status: CertificateRequest["status"] | "failed";
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
    // caps checked under the identity's lock) before anything is signed, as "issuing" until its certificate exists.
    const auto = this.policy === "auto";
    const refusal = await this.budget.reserveRequest(
      { ...base, status: auto ? "issuing" : "pending", serial: null },
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
      issued = await this.ca.issueFromCsr(body, {
        profile: "client",
        days: DEFAULT_DAYS.client,
        // The claim, in the certificate's insert transaction: both are stored, or neither.
        guard: async (trx, serial) => {
          if (!(await this.budget.claim(trx, caller.identity, id, serial, this.now())))
            throw new ConflictError(`certificate request ${id} was not issued in time; ask again`);
        },
      });
    } catch (err) {
      // The caller learns of the issuance's failure, not of the clean-up's: a reservation left behind reads
      // "issuing", then "failed", never "issued".
      await this.budget.release(id).catch(() => undefined);
      throw err;
    }
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
    if (r.status === "issued" && r.serial) {
      const cert = await this.registry.get(r.serial);
      return { id, status: "issued", serial: r.serial, ...(cert ? { certificate: cert.pem } : {}) };
    }
    // A reservation without its certificate: "issuing", then "failed" once stale (store/certificate-requests.ts).
    const status = shownStatus(r, this.now());
    return status === "issuing" || status === "failed" ? { id, status } : { id, status: r.status };
  }
}
