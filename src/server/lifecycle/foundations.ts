/**
 * The first step of startServer (index.ts): what everything else stands on. The database, the CA and its signer, the
 * server's own certificate and key (with the TLS material made of them), the audit log and the metrics.
 */
import type { KeyObject } from "node:crypto";
import type { Logger } from "pino";
import type { ServerConfig } from "../../config/index.js";
import { openDatabase } from "../../store/db.js";
import { SAFETY_AUTOCHECKPOINT_PAGES } from "../../store/wal-checkpointer.js";
import type { Db } from "../../store/db.js";
import { CertificateRepository } from "../../store/certificates.js";
import { CertificateAuthority } from "../../ca/authority.js";
import { caPaths, readCaCertificates } from "../../ca/ca-files.js";
import type { CaPaths } from "../../ca/ca-files.js";
import { loadCaSigner } from "../../ca/pkcs11-record.js";
import { decryptPrivateKey } from "../../keys/encrypted-pkcs8.js";
import { AuditLog } from "../../audit/audit-log.js";
import { auditPaths, openAuditSigner } from "../../audit/audit-key.js";
import { AuditRepository } from "../../store/audit.js";
import { operationAudit } from "../../audit/audited-operation.js";
import { ensureServerCertificate } from "../tls/server-cert.js";
import { Metrics } from "../metrics.js";
import { auditChainAlarm } from "./audit-alarm.js";
import type { TlsMaterial } from "../tls/tls.js";

export interface Foundations {
  config: ServerConfig;
  passphrase: string;
  now: () => Date;
  log: Logger;
  paths: CaPaths;
  certs: ReturnType<typeof readCaCertificates>;
  db: Db;
  registry: CertificateRepository;
  /** The CA, its operations audited as "certvault" (the server's certificate, CRLs, renewals). */
  ca: CertificateAuthority;
  /** The CA with its operations audited under `actor` (the operator console's admin). */
  authorityFor(actor: string): CertificateAuthority;
  identity: Awaited<ReturnType<typeof ensureServerCertificate>>;
  serverKey: KeyObject;
  /** The TLS context's material; `crl` changes with every CRL. */
  material: TlsMaterial;
  auditSigner: Awaited<ReturnType<typeof openAuditSigner>>;
  audit: AuditLog;
  metrics: Metrics;
}

/** The database, the CA and its signer, the server's own certificate and key, the audit log. */
export async function openFoundations(
  config: ServerConfig,
  passphrase: string,
  now: () => Date,
  log: Logger,
): Promise<Foundations> {
  // Read first: a HOME that is not a CA's fails here, before a database file is made in it.
  const paths = caPaths(config.home);
  const certs = readCaCertificates(paths);
  const db = await openDatabase(config.db, {
    walCheckpointer: {
      onError: (code) =>
        log.error(
          { code },
          `SQLite WAL checkpoint on the worker failed (the server's connection checkpoints by itself past ${SAFETY_AUTOCHECKPOINT_PAGES} pages)`,
        ),
    },
  });
  try {
    return await foundationsOn({ db, paths, certs }, config, passphrase, now, log);
  } catch (err) {
    // A wrong passphrase or PIN, a missing file: nothing else holds the database (or its checkpoint worker) yet.
    await db.destroy().catch(() => undefined);
    throw err;
  }
}

async function foundationsOn(
  { db, paths, certs }: Pick<Foundations, "db" | "paths" | "certs">,
  config: ServerConfig,
  passphrase: string,
  now: () => Date,
  log: Logger,
): Promise<Foundations> {
  const registry = new CertificateRepository(db);
  // In a PKCS#11 token when HOME/ca/pkcs11.json says so (PIN from config.pkcs11), else the encrypted key file.
  const signer = await loadCaSigner(paths, { passphrase: async () => passphrase, pkcs11: config.pkcs11 });
  const authorityFor = (actor: string): CertificateAuthority =>
    new CertificateAuthority({
      paths,
      registry,
      signer: async () => signer,
      now,
      audit: operationAudit(new AuditRepository(db), actor, now),
    });
  // The server's own certificate and every CRL it issues are CA operations too: audited, by "certvault".
  const ca = authorityFor("certvault");
  const identity = await ensureServerCertificate(config.home, ca, passphrase, now());
  // Decrypted once, kept in memory only: every CRL refresh rebuilds the TLS context, and a 600,000-round PBKDF2
  // per rebuild would cost each revocation ~150 ms of CPU. The same key signs the records the server seals itself.
  const serverKey = decryptPrivateKey(identity.keyPem, identity.passphrase);
  const material: TlsMaterial = {
    key: serverKey.export({ format: "pem", type: "pkcs8" }) as string,
    cert: identity.certPem + certs.intermediatePem,
    ca: certs.rootPem + certs.intermediatePem,
    crl: [],
  };
  const { auditSigner, audit, metrics } = await openAudit(config, db, passphrase, now, log);
  const base = { config, passphrase, now, log, paths, certs, db, registry, ca, authorityFor, identity, serverKey };
  return { ...base, material, auditSigner, audit, metrics };
}

/** The audit log with its checkpoint signer, and the metrics its chain alarm counts in. */
async function openAudit(
  config: ServerConfig,
  db: Foundations["db"],
  passphrase: string,
  now: () => Date,
  log: Logger,
): Promise<Pick<Foundations, "auditSigner" | "audit" | "metrics">> {
  // Checkpoints are signed in the CA's token when the CA is in one (its key made there on first start), else with
  // HOME/audit/audit.key; an existing audit.key is always kept.
  const auditSigner = await openAuditSigner(config.home, { passphrase, pkcs11: config.pkcs11 });
  const metrics = new Metrics();
  const audit = new AuditLog(new AuditRepository(db), {
    signing: { key: auditSigner, paths: auditPaths(config.home) },
    checkpointEvery: config.auditCheckpointEvery,
    checkpointMs: config.auditCheckpointMs,
    now,
    onBatch: (entries) => metrics.auditBatch.observe(entries),
    onError: (err) => log.error({ err: (err as Error).message }, "audit checkpoint failed"),
    // A refusal to sign is a broken (or unanchored) chain: a metric and an alert, not only the log line above.
    onChainState: auditChainAlarm({ metrics, log, alertWebhook: config.alertWebhook, now }),
  });
  return { auditSigner, audit, metrics };
}
