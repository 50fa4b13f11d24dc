/**
 * The certificate authority: issue, revoke, CRL, list, show (a new CA: ca-init.ts). Files through ca-files.ts, registry through
 * store/, rules from profiles.ts; the clock and the signer are injected so tests can move time and swap keys.
 */
import { x509 } from "../x509/x509.js";
import { createHash } from "node:crypto";
import { CsrRejectedError, AlreadyRevokedError, CertificateNotFoundError } from "../errors/index.js";
import type { CertificateRecord, CertificateRepository, IssueGuard, RevokeGuard } from "../store/certificates.js";
import { readCaCertificates } from "./ca-files.js";
import type { CaCertificates, CaPaths } from "./ca-files.js";
import { vetCsr } from "./csr.js";
import { leafShape } from "./profiles.js";
import type { KeyFamily, Profile } from "./profiles.js";
import { randomSerial } from "./serial.js";
import { signCertificate } from "./sign.js";
import type { Signer } from "./sign.js";
import { buildCrl } from "./crl.js";
import { parseReason } from "./reasons.js";
import { readCrlUrl } from "./crl-url.js";
import { RECOVERY_IDENTITY } from "./profiles.js";
import type { OperationAudit } from "../audit/audited-operation.js";

type NewCertificateRecord = Omit<CertificateRecord, "storedStatus" | "revokedAt" | "revocationReason">;

export interface IssuedCertificate {
  pem: string;
  record: CertificateRecord;
}

export function fingerprintOf(cert: x509.X509Certificate): string {
  return createHash("sha256").update(new Uint8Array(cert.rawData)).digest("hex");
}

/**
 * A subject of exactly one CN, built as ASN.1 and never parsed from a DN string: @peculiar/x509 reads a string value
 * that starts with "#" as hex-encoded DER (a CSR with CN "#0c03626f62" would get a certificate for CN=bob) and drops a
 * trailing backslash. Same string types as before: PrintableString when it fits, UTF8String otherwise.
 */
export function cnName(cn: string): x509.Name {
  return new x509.Name([{ CN: [x509.Name.isPrintableString(cn) ? { printableString: cn } : { utf8String: cn }] }]);
}

export interface IssueRequest {
  /** Only `recovery init` may issue under the reserved recovery name. */
  recovery?: boolean;
  publicKey: x509.PublicKey | CryptoKey;
  commonName: string;
  family: KeyFamily;
  keyType: string;
  profile: Profile;
  days: number;
  sans?: string[];
  /** Runs in the registry insert's transaction (store/certificates.ts IssueGuard); throwing stores nothing. */
  guard?: IssueGuard;
}

/** The registry row of a certificate this CA signed (the CA's issue, and the test kit's broken-on-purpose ones). */
export function registryRow(
  serial: string,
  cert: x509.X509Certificate,
  req: { commonName: string; profile: Profile; keyType: string },
  createdAt: Date,
): NewCertificateRecord {
  return {
    serial,
    identity: req.commonName,
    subject: cert.subject,
    profile: req.profile,
    keyType: req.keyType,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: fingerprintOf(cert),
    pem: cert.toString("pem") + "\n",
    createdAt,
  };
}

const issuedDetail = (r: IssuedCertificate): Record<string, string> => ({
  serial: r.record.serial,
  identity: r.record.identity,
});

export interface AuthorityDeps {
  /** Every issue, revoke and CRL goes through it (attempt, then done or failed), when given. */
  audit?: OperationAudit;
  paths: CaPaths;
  registry: CertificateRepository;
  /** Decrypts the intermediate key on first need (issue, CRL); revoke, list and show never need it. */
  signer: () => Promise<Signer>;
  now?: () => Date;
}

export class CertificateAuthority {
  private readonly now: () => Date;
  private signerPromise: Promise<Signer> | undefined;

  constructor(private readonly deps: AuthorityDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  get certificates(): CaCertificates {
    return readCaCertificates(this.deps.paths);
  }

  /** Loaded once; a failed load (a wrong passphrase, a token away) is forgotten so that the next call tries again. */
  private signer(): Promise<Signer> {
    this.signerPromise ??= this.deps.signer().catch((err: unknown) => {
      this.signerPromise = undefined;
      throw err;
    });
    return this.signerPromise;
  }

  /** Runs `op` under the audit trail when the CA has one (the CLI and the server always give it one). */
  private audited<T>(
    action: string,
    detail: Record<string, string | number | boolean>,
    op: () => Promise<T>,
    outcome?: (r: T) => Record<string, string | number | boolean>,
  ): Promise<T> {
    return this.deps.audit ? this.deps.audit.run({ action, detail }, op, outcome) : op();
  }

  /**
   * Issues from a CSR; nothing is written to the registry unless the CSR is accepted, the certificate signed and
   * `guard` (if any) passes in the insert's transaction.
   */
  async issueFromCsr(
    csrInput: Uint8Array | string,
    opts: { profile: Profile; days: number; sans?: string[]; guard?: IssueGuard },
  ): Promise<IssuedCertificate> {
    return this.audited(
      "ca.issue",
      { profile: opts.profile, days: opts.days },
      async () => {
        const vetted = await vetCsr(csrInput);
        return this.issue({
          publicKey: vetted.csr.publicKey,
          commonName: vetted.commonName,
          family: vetted.family,
          keyType: vetted.keyType,
          ...opts,
        });
      },
      issuedDetail,
    );
  }

  /** Issues for a public key whose possession was already established (the server's own TLS key, a vetted CSR). */
  async issueForKey(req: IssueRequest): Promise<IssuedCertificate> {
    return this.audited("ca.issue", { profile: req.profile, days: req.days }, () => this.issue(req), issuedDetail);
  }

  private async issue(req: IssueRequest): Promise<IssuedCertificate> {
    if (req.commonName === RECOVERY_IDENTITY && !req.recovery) {
      throw new CsrRejectedError(
        `"${RECOVERY_IDENTITY}" is reserved for the recovery certificate (certvault recovery init)`,
      );
    }
    const signer = await this.signer();
    const now = this.now();
    // Read at every issue: `ca set-crl-url` on a running server's CA applies to its next certificate.
    const shape = leafShape({
      profile: req.profile,
      family: req.family,
      days: req.days,
      sans: req.sans ?? [],
      commonName: req.commonName,
      now,
      issuerNotAfter: signer.certificate.notAfter,
      crlUrl: readCrlUrl(this.deps.paths),
    });
    const serial = randomSerial();
    const cert = await signCertificate({
      serial,
      subject: cnName(req.commonName),
      shape,
      publicKey: req.publicKey,
      issuer: signer,
    });
    const pem = cert.toString("pem") + "\n";
    const record = registryRow(serial, cert, req, now);
    await this.deps.registry.insert(record, req.guard);
    return { pem, record: { ...record, storedStatus: "active", revokedAt: null, revocationReason: null } };
  }

  /** `guard` runs in the revocation's transaction and may refuse it (the server's self-revocation budget). */
  async revoke(serial: string, reasonName?: string, opts: { guard?: RevokeGuard } = {}): Promise<CertificateRecord> {
    return this.audited("ca.revoke", { serial, reason: reasonName ?? "unspecified" }, () =>
      this.revokeNow(serial, reasonName, opts.guard),
    );
  }

  private async revokeNow(serial: string, reasonName?: string, guard?: RevokeGuard): Promise<CertificateRecord> {
    const reason = parseReason(reasonName);
    const existing = await this.deps.registry.get(serial);
    if (!existing) throw new CertificateNotFoundError(`no certificate with serial ${serial} in this CA's registry`);
    if (existing.storedStatus === "revoked") throw new AlreadyRevokedError(`certificate ${serial} is already revoked`);
    await this.deps.registry.revoke(serial, reason, this.now(), guard);
    const after = await this.deps.registry.get(serial);
    if (!after) throw new CertificateNotFoundError(`certificate ${serial} disappeared while revoking`);
    return after;
  }

  /**
   * A fresh CRL v2 over every revoked certificate that has not been expired for longer than one CRL lifetime (it was
   * on a CRL issued after its expiry, as RFC 5280 3.3 asks), with the next CRL number. Serial, time and reason only.
   */
  async crl(opts: { days?: number } = {}): Promise<x509.X509Crl> {
    const days = opts.days ?? 7;
    return this.audited("ca.crl", { days }, async () => {
      const signer = await this.signer();
      const now = this.now();
      const revoked = await this.deps.registry.crlEntries(new Date(now.getTime() - days * 86_400_000));
      const crlNumber = await this.deps.registry.nextCrlNumber();
      return buildCrl({ signer, revoked, crlNumber, now, days });
    });
  }

  async list(): Promise<CertificateRecord[]> {
    return this.deps.registry.list();
  }

  async show(serial: string): Promise<CertificateRecord> {
    const c = await this.deps.registry.get(serial);
    if (!c) throw new CertificateNotFoundError(`no certificate with serial ${serial} in this CA's registry`);
    return c;
  }
}
