/**
 * What the console reads and does, over the same repositories and code paths as the CLI: `ca revoke` (the CA,
 * audited), `requests approve|reject` (ca/renewal-approval.ts), `quarantine release` (anomaly/quarantine.ts, over anomaly/release.ts) and
 * `audit verify` (audit/verify.ts), `ca token --revoke` (ca/enrollment.ts). Every operation is audited under the admin's identity. Views carry no PEM, no
 * key, no token, no record content: only the fields a page shows.
 */
import { InvalidInputError } from "../../errors/index.js";
import { REASONS } from "../../ca/reasons.js";
import { parseDays } from "../../ca/profiles.js";
import { RenewalApproval } from "../../ca/renewal-approval.js";
import type { Decision } from "../../ca/renewal-approval.js";
import { describeToken, revokeToken } from "../../ca/enrollment.js";
import type { TokenView } from "../../ca/enrollment.js";
import { TOKEN_ID_SHAPE } from "../../ca/enrollment-token.js";
import { operationAudit } from "../../audit/audited-operation.js";
import type { AuditDetail } from "../../audit/audited-operation.js";
import { verifyAudit } from "../../audit/verify.js";
import { auditPaths } from "../../audit/audit-key.js";
import type { VerifyResult } from "../../audit/chain.js";
import { AuditRepository } from "../../store/audit.js";
import { CertificateRepository } from "../../store/certificates.js";
import { CertificateRequestRepository } from "../../store/certificate-requests.js";
import { QuarantineRepository } from "../../store/quarantine.js";
import { EnrollmentTokenRepository } from "../../store/enrollment-tokens.js";
import type { Db } from "../../store/db.js";
import type { CertificateAuthority } from "../../ca/authority.js";
import type { RegistryRefresh } from "../ports.js";
import type { Quarantine } from "../../anomaly/quarantine.js";
import type { Metrics } from "../metrics.js";

export interface ConsoleDeps {
  db: Db;
  /** HOME: where the audit public key and anchor are (audit verify). */
  home: string;
  /** This node reads the registry again after an operator's change. */
  registry: RegistryRefresh;
  quarantine: Pick<Quarantine, "release">;
  metrics: Metrics;
  now: () => Date;
  /** The CA with its operations audited under `actor` (the admin's identity). */
  authorityFor(actor: string): CertificateAuthority;
}

export interface LastVerify {
  at: Date;
  by: string;
  result: VerifyResult;
}

const SERIAL = /^[0-9a-f]{1,64}$/;

export class ConsoleService {
  readonly audit: AuditRepository;
  readonly registry: CertificateRepository;
  readonly requests: CertificateRequestRepository;
  readonly quarantine: QuarantineRepository;
  /** Private: its rows hold token hashes; pages read `tokenViews()`, which never does. */
  private readonly tokens: EnrollmentTokenRepository;
  /** The last "verify now" on this node (kept in memory; every run is also in the audit trail). */
  lastVerify: LastVerify | undefined;

  constructor(readonly deps: ConsoleDeps) {
    this.audit = new AuditRepository(deps.db);
    this.registry = new CertificateRepository(deps.db);
    this.requests = new CertificateRequestRepository(deps.db);
    this.quarantine = new QuarantineRepository(deps.db);
    this.tokens = new EnrollmentTokenRepository(deps.db);
  }

  private auditAs(admin: string) {
    return operationAudit(this.audit, admin, this.deps.now);
  }

  async revoke(admin: string, serialInput: string, reason: string): Promise<void> {
    const serial = serialInput.trim().toLowerCase().replace(/:/g, "");
    if (!SERIAL.test(serial)) throw new InvalidInputError("the serial must be hexadecimal");
    if (!Object.hasOwn(REASONS, reason)) throw new InvalidInputError("unknown revocation reason");
    await this.deps.authorityFor(admin).revoke(serial, reason);
    // This node refuses the certificate now (and closes its connections); others within one poll.
    await this.deps.registry.poll();
  }

  async decide(admin: string, id: string, decision: "approve" | "reject", daysInput?: string): Promise<Decision> {
    if (!/^[0-9a-f]{32}$/.test(id)) throw new InvalidInputError("the request id must be 32 hexadecimal digits");
    const approval = new RenewalApproval({
      ca: this.deps.authorityFor(admin),
      requests: this.requests,
      registry: this.registry,
      audit: this.auditAs(admin),
      now: this.deps.now,
    });
    if (decision === "reject") return approval.reject(id);
    const days = parseDays(daysInput === undefined || daysInput === "" ? undefined : daysInput, "client");
    const result = await approval.approve(id, days);
    await this.deps.registry.poll();
    return result;
  }

  /** Enrollment tokens as `ca token --list` shows them: never the token, never its hash. */
  async tokenViews(): Promise<TokenView[]> {
    const now = this.deps.now();
    return (await this.tokens.list()).map((t) => describeToken(t, now));
  }

  async revokeToken(admin: string, idInput: string): Promise<void> {
    const id = idInput.trim().toLowerCase();
    if (!TOKEN_ID_SHAPE.test(id)) throw new InvalidInputError("the token id must be 32 hexadecimal digits");
    await revokeToken(this.tokens, this.auditAs(admin), id, this.deps.now);
  }

  async release(admin: string, identity: string): Promise<boolean> {
    // This node lets the identity in now (and forgets its anomaly counts); others within one poll.
    return this.deps.quarantine.release(identity, this.auditAs(admin));
  }

  async verify(admin: string): Promise<VerifyResult> {
    const result = await this.auditAs(admin).run(
      { action: "audit.verify" },
      () => verifyAudit(this.audit, auditPaths(this.deps.home)),
      (r): AuditDetail =>
        r.ok ? { ok: true, entries: r.entries, checkpoints: r.checkpoints } : { ok: false, seq: r.seq },
    );
    this.lastVerify = { at: this.deps.now(), by: admin, result };
    return result;
  }
}
