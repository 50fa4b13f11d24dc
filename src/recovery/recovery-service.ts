/**
 * Recovery of a lost key as a service (what `certvault recovery request` and `certvault recover` run): the request
 * that starts the waiting period, then, once it is over, the checks and the re-wrapping of the identity's records for
 * its new certificate. The clock and the audit trail are given; every attempt is audited, refused ones included (the
 * checks run inside the audited operation).
 */
import type { OperationAudit } from "../audit/audited-operation.js";
import { normalizeSerial } from "../ca/serial.js";
import { x509 } from "../x509/x509.js";
import type { CertificateRepository } from "../store/certificates.js";
import type { RecordRepository } from "../store/records.js";
import type { RecoveryRequestRepository } from "../store/recovery-requests.js";
import { RecoveryFailedError, rebuildRecoveryKey, recoverRecords } from "./recover.js";
import type { RecoveryResult } from "./recover.js";
import { waitingPeriodEnd, waitingPeriodOver } from "./waiting-period.js";

export interface RecoveryServiceDeps {
  requests: RecoveryRequestRepository;
  registry: CertificateRepository;
  records: RecordRepository;
  audit: OperationAudit;
  now: () => Date;
}

export interface RecoverInput {
  identity: string;
  /** The identity's new certificate (PEM): must be its registry's own copy, active. */
  newCertPem: string;
  /** Opened custodian shares; the caller wipes them afterwards. */
  shares: readonly Uint8Array[];
  /** The waiting period (recovery/waiting-period.ts waitHoursFor: never shorter than the policy's). */
  waitHours: number;
  recoveryCertPem: string;
}

export type RecoverOutcome = RecoveryResult & { toSerial: string };

export class RecoveryService {
  constructor(private readonly deps: RecoveryServiceDeps) {}

  /** Starts the waiting period for `identity` (a second request keeps the first one's time). */
  request(identity: string, by: string): Promise<void> {
    return this.deps.audit.run({ action: "recovery.request", detail: { identity } }, () =>
      this.deps.requests.request(identity, by, this.deps.now()),
    );
  }

  recover(input: RecoverInput): Promise<RecoverOutcome> {
    const { identity, shares, waitHours } = input;
    return this.deps.audit.run(
      { action: "recovery.recover", detail: { identity, shares: shares.length, waitHours } },
      () => this.recoverNow(input),
      (r) => ({ rewrapped: r.rewrapped, skipped: r.skipped, notRecoverable: r.notRecoverable, toSerial: r.toSerial }),
    );
  }

  private async recoverNow(input: RecoverInput): Promise<RecoverOutcome> {
    const { identity, waitHours } = input;
    const request = await this.deps.requests.get(identity);
    if (!request)
      throw new RecoveryFailedError(
        `no recovery request for "${identity}": run \`certvault recovery request --identity ${identity}\` first`,
      );
    if (!waitingPeriodOver(request.requestedAt, waitHours, this.deps.now()))
      throw new RecoveryFailedError(
        `the waiting period for "${identity}" ends at ${waitingPeriodEnd(request.requestedAt, waitHours).toISOString()}`,
      );
    const registered = await this.registeredCertificate(identity, input.newCertPem);
    const key = await rebuildRecoveryKey(input.shares, input.recoveryCertPem);
    const r = await recoverRecords({
      records: this.deps.records,
      identity,
      recoveryKey: key,
      recoveryCertPem: input.recoveryCertPem,
      newCertPem: registered.pem,
      now: this.deps.now,
    });
    await this.deps.requests.clear(identity);
    return { ...r, toSerial: registered.serial };
  }

  /** The registry's own copy, compared whole: a look-alike certificate copying the serial is refused. */
  private async registeredCertificate(identity: string, pem: string): Promise<{ pem: string; serial: string }> {
    const serial = normalizeSerial(new x509.X509Certificate(pem).serialNumber);
    const registered = await this.deps.registry.get(serial);
    if (
      !registered ||
      registered.identity !== identity ||
      registered.storedStatus !== "active" ||
      registered.pem.trim() !== pem.trim()
    ) {
      throw new RecoveryFailedError(
        `the new certificate is not an active certificate of "${identity}" in this CA's registry`,
      );
    }
    return { pem: registered.pem, serial };
  }
}
