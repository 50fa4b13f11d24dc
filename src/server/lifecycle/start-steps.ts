/**
 * The middle steps of startServer (index.ts), in order: open the foundations (foundations.ts: database, CA, the
 * server's own certificate, the audit log), watch the registry (watch-registry.ts: revocation and CRLs, the
 * quarantines, the recovery certificate, registry notifications), build the controls and build the app (here),
 * listen (listen.ts).
 */
import type Koa from "koa";
import { RecordRepository } from "../../store/records.js";
import { CertificateRequestRepository } from "../../store/certificate-requests.js";
import { IssuanceBudget } from "../../store/issuance-budget.js";
import { createLimiter } from "../../store/rate-limits.js";
import type { Foundations } from "./foundations.js";
import type { RegistryState } from "./watch-registry.js";
import { pemToDer } from "../../policy/registry-certificate.js";
import { RecordService } from "../services/records.js";
import { CertificateService, MAX_ACTIVE_AUTO } from "../services/certificates.js";
import { buildApp } from "../app.js";
import type { Controls } from "../controls.js";
import { reportFindings } from "../middleware/findings.js";

/** The audit and abuse controls of the request path (controls.ts). */
export function buildControls(f: Foundations, r: RegistryState): Controls {
  const { config, db } = f;
  const limiter = (scope: "identity" | "source") => {
    const l = config.rateLimits[scope];
    return l.points > 0 ? createLimiter({ store: config.rateLimitStore, db, ...l, keyPrefix: scope }) : undefined;
  };
  const identity = limiter("identity");
  const source = limiter("source");
  const controls: Controls = {
    audit: f.audit,
    detector: r.detector,
    reads: r.reads,
    quarantine: r.quarantine,
    limiters: { ...(identity ? { identity } : {}), ...(source ? { source } : {}) },
    maxConcurrentRequests: config.maxConcurrentRequests,
    metrics: f.metrics,
    log: f.log,
    now: f.now,
    alertWebhook: config.alertWebhook,
    adminIdentities: config.adminIdentities,
  };
  r.findings.report = (identity, serial, found, time) => reportFindings(controls, { identity, serial }, found, time);
  return controls;
}

/** The app over the services; the services see the registry through its ports only. */
export function appFor(f: Foundations, r: RegistryState, controls: Controls): Koa {
  const { db, now, certs, identity } = f;
  // The server's record-signing certificate as DER: handed to signRecord per plaintext upload, it is not decoded
  // from PEM again each time.
  const der = (pem: string) => pemToDer(pem) ?? pem;
  const signer = { key: f.serverKey, certificate: der(identity.certPem), chain: [der(certs.intermediatePem)] };
  return buildApp({
    log: f.log,
    now,
    registry: r.watcher,
    directory: r.watcher,
    crl: r.watcher,
    records: new RecordService(new RecordRepository(db), r.watcher, now, () => r.recovery.vettedNow(), signer),
    certificates: new CertificateService(
      new CertificateRequestRepository(db),
      f.registry,
      f.ca,
      f.config.renewal,
      now,
      new IssuanceBudget(db, { ...f.config.issuanceLimits, maxActive: MAX_ACTIVE_AUTO }),
    ),
    maxRecordBytes: f.config.maxRecordBytes,
    // The operator console acts under the admin's identity: its CA operations are audited with that actor.
    console: {
      db,
      home: f.config.home,
      registry: r.watcher,
      quarantine: r.quarantine,
      metrics: f.metrics,
      now,
      authorityFor: f.authorityFor,
    },
    controls,
  });
}
