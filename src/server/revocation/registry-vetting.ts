/**
 * The revocation watcher's filter: of the rows it read, only those whose certificate passes vetRegistryCertificate
 * (policy/registry-certificate.ts) are ever sealed to, listed or used for a recipient check. A refused row is logged at warn
 * (serial, identity, fingerprint, reason; never the PEM) and, when it lies about our CA (not an "unsealable" key),
 * audited as `registry.rejected`, once per certificate fingerprint and row.
 *
 * Cost, measured by bench/vetting-cost.ts (node --import tsx bench/vetting-cost.ts) on a shared 2-core machine: a
 * first check (a Node and an @peculiar/x509 parse, one ECDSA P-256 verify) takes 1.1-1.8 ms, about half to three
 * quarters of the CPU one side spends on a full mTLS handshake in the same run (2.0-2.4 ms there); cached per SHA-256
 * fingerprint a repeat costs 11-17 us (PEM decode and hash), and a row object the watcher still holds 1-3 us.
 */
import type { Logger } from "pino";
import type { AuditLog } from "../../audit/audit-log.js";
import {
  anchorsFromPem,
  certificateFacts,
  fingerprintOfDer,
  judge,
  pemToDer,
} from "../../policy/registry-certificate.js";
import type { CaAnchors, CertificateFacts, RegistryRow } from "../../policy/registry-certificate.js";

export interface Rejection {
  row: RegistryRow;
  fingerprint: string;
  kind: "hostile" | "unsealable";
  reason: string;
}

const MALFORMED_PEM = { kind: "hostile", reason: "the row's PEM is not exactly one certificate" } as const;

export class RegistryVetting {
  /** Per SHA-256 of the DER: a certificate is parsed and its signature verified once. */
  private readonly byFingerprint = new Map<string, CertificateFacts>();
  /** Per row object: the watcher hands out the same objects until the registry changes, so not even a hash then. */
  private readonly byRow = new WeakMap<RegistryRow, CertificateFacts>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly ca: CaAnchors,
    private readonly report: (r: Rejection) => Promise<void>,
    private readonly cap = 10_000,
  ) {}

  /** The rows whose certificate passes, in order; the others are reported (once) and left out. */
  async usable<T extends RegistryRow>(rows: readonly T[], now: Date): Promise<T[]> {
    const out: T[] = [];
    for (const row of rows) {
      const facts = this.factsOf(row);
      const verdict = judge(facts, row, this.ca, now);
      if (verdict.ok) out.push(row);
      else if (verdict.kind !== "expired")
        await this.reportOnce({ row, fingerprint: facts.fingerprint, kind: verdict.kind, reason: verdict.reason });
    }
    return out;
  }

  private factsOf(row: RegistryRow): CertificateFacts {
    const known = this.byRow.get(row);
    if (known) return known;
    const der = pemToDer(row.pem);
    const fingerprint = der ? fingerprintOfDer(der) : `pem:${fingerprintOfDer(Buffer.from(row.pem, "utf8"))}`;
    let facts = this.byFingerprint.get(fingerprint);
    if (!facts) {
      facts = der
        ? certificateFacts(der, this.ca)
        : { fingerprint, problem: MALFORMED_PEM, serial: "", commonNames: [], notBefore: 0, notAfter: 0 };
      if (this.byFingerprint.size >= this.cap)
        this.byFingerprint.delete(this.byFingerprint.keys().next().value as string);
      this.byFingerprint.set(fingerprint, facts);
    }
    this.byRow.set(row, facts);
    return facts;
  }

  private async reportOnce(r: Rejection): Promise<void> {
    const key = `${r.fingerprint}|${r.row.serial}|${r.row.identity}`;
    if (this.reported.has(key)) return;
    if (this.reported.size >= this.cap) this.reported.clear();
    this.reported.add(key);
    await this.report(r);
  }
}

/** The server's vetting: our CA's certificates, warnings to the server log, hostile rows to the audit trail. */
export function registryVetting(deps: {
  rootPem: string;
  intermediatePem: string;
  log: Logger;
  audit: AuditLog;
  now: () => Date;
}): RegistryVetting {
  const { log, audit, now } = deps;
  return new RegistryVetting(
    anchorsFromPem(deps.rootPem, deps.intermediatePem),
    async ({ row, fingerprint, kind, reason }) => {
      const detail = { identity: row.identity, serial: row.serial, fingerprint, reason };
      log.warn(
        detail,
        kind === "hostile"
          ? "registry certificate refused: never sealed to nor listed"
          : "registry certificate left out of sealing",
      );
      if (kind !== "hostile") return;
      try {
        await audit.append({
          time: now(),
          actor: "certvault",
          action: "registry.rejected",
          serial: row.serial,
          status: 0,
          detail,
        });
      } catch (err) {
        log.error(
          { err: (err as Error).message, serial: row.serial },
          "could not audit a refused registry certificate",
        );
      }
    },
  );
}
