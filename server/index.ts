/**
 * Starting and stopping the records server: open the database, load the CA signer, make sure the server has a TLS
 * certificate, start watching the registry, and listen. SIGTERM handling lives with the CLI; `close()` here
 * finishes in-flight requests and closes idle keep-alive connections.
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import type { Logger } from "pino";
import type { ServerConfig } from "../config/index.js";
import { openDatabase } from "../store/db.js";
import type { Db } from "../store/db.js";
import { CertificateRepository } from "../store/certificates.js";
import { RecordRepository } from "../store/records.js";
import { CertificateAuthority } from "../ca/authority.js";
import { caPaths, readCaCertificates } from "../ca/ca-files.js";
import { loadCaSigner } from "../ca/pkcs11-record.js";
import { normalizeSerial } from "../ca/serial.js";
import { RegistryWatcher } from "./registry-watch.js";
import { registryVetting } from "./registry-vetting.js";
import { RecordService } from "./services/records.js";
import { CertificateService, MAX_ACTIVE_AUTO } from "./services/certificates.js";
import { IssuanceBudget } from "../store/issuance-budget.js";
import { awaitingRecovery, serverRecoveryCertificate } from "../recovery/recovery-certificate.js";
import { CertificateRequestRepository } from "../store/certificate-requests.js";
import { buildApp } from "./app.js";
import { ensureServerCertificate } from "./server-cert.js";
import { decryptPrivateKey } from "../keys/encrypted-pkcs8.js";
import { AuditLog } from "../audit/audit-log.js";
import { auditPaths, openAuditSigner } from "../audit/audit-key.js";
import { AuditRepository } from "../store/audit.js";
import { operationAudit } from "../audit/audited-operation.js";
import { QuarantineRepository } from "../store/quarantine.js";
import { SharedDetector } from "../abuse/shared-detector.js";
import { RuleCounters } from "../store/rule-counters.js";
import { ReadCounters } from "../store/read-counters.js";
import { ReadAdmission } from "./admission.js";
import { Metrics } from "./metrics.js";
import { auditChainAlarm } from "./audit-alarm.js";
import { listenForRegistryChanges } from "../store/notify.js";
import { createLimiter } from "../store/rate-limits.js";
import { reportFindings } from "./controls.js";
import type { ControlsDeps, Quarantines } from "./controls.js";
import { secureContextOptions, tlsOptions } from "./tls.js";
import type { TlsMaterial } from "./tls.js";
import { recordsUrlFor, startEnrollmentListener } from "./enrollment.js";
import type { EnrollmentListener } from "./enrollment.js";
import { drainOnClose } from "./graceful-close.js";
import { handleClientErrors } from "./client-error.js";
import { acceptProxyProtocol } from "./proxy-protocol.js";
import { refuseUnauthorized } from "./handshake-gate.js";
import { HandshakeRefusals } from "./handshake-audit.js";
import { rotateTicketKeys } from "./ticket-keys.js";
import { startCrlPublishing } from "./crl-listener.js";
import type { CrlListener } from "./crl-listener.js";
import { EnrollmentTokenRepository } from "../store/enrollment-tokens.js";

export interface RunningServer {
  url: string;
  port: number;
  server: Server;
  db: Db;
  /** https://HOST:PORT of the enrollment listener, when config.enrollPort is set. */
  enrollUrl?: string;
  /** http://HOST:PORT/PATH where the CRL is served, when config.crlPort is set. */
  crlUrl?: string;
  close(): Promise<void>;
}

export interface StartOptions {
  config: ServerConfig;
  /** CA passphrase, obtained by the caller (CLI) from file, env or prompt. */
  passphrase: string;
  now?: () => Date;
  log?: Logger;
  /** false only for the benchmark that measures what the audit and abuse controls cost; never from the CLI. */
  controls?: boolean;
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const { config, passphrase } = opts;
  const now = opts.now ?? (() => new Date());
  const log = opts.log ?? pino({ level: config.logLevel, base: { svc: "certvault" } }, pino.destination(2));
  const paths = caPaths(config.home);
  const certs = readCaCertificates(paths);
  const db = await openDatabase(config.db);
  const registry = new CertificateRepository(db);
  // In a PKCS#11 token when HOME/ca/pkcs11.json says so (PIN from config.pkcs11), else the encrypted key file.
  const signer = await loadCaSigner(paths, { passphrase: async () => passphrase, pkcs11: config.pkcs11 });
  // The server's own certificate and every CRL it issues are CA operations too: audited, by "certvault".
  const ca = new CertificateAuthority({
    paths,
    registry,
    signer: async () => signer,
    now,
    audit: operationAudit(new AuditRepository(db), "certvault", now),
  });
  const identity = await ensureServerCertificate(config.home, ca, passphrase, now());

  // The watcher's first CRL arrives before the server exists; later ones swap the live TLS context.
  let server: Server | undefined = undefined;
  // Decrypted once, kept in memory only: every CRL refresh rebuilds the TLS context, and a 600,000-round PBKDF2
  // per rebuild would cost each revocation ~150 ms of CPU. The same key signs the records the server seals itself.
  const serverKey = decryptPrivateKey(identity.keyPem, identity.passphrase);
  const material: TlsMaterial = {
    key: serverKey.export({ format: "pem", type: "pkcs8" }) as string,
    cert: identity.certPem + certs.intermediatePem,
    ca: certs.rootPem + certs.intermediatePem,
    crl: [],
  };
  // Checkpoints are signed in the CA's token when the CA is in one (its key made there on first start), else with
  // HOME/audit/audit.key; an existing audit.key is always kept.
  const auditSigner = await openAuditSigner(config.home, { passphrase, pkcs11: config.pkcs11 });
  const metrics = new Metrics();
  const audit = new AuditLog(new AuditRepository(db), {
    signing: { key: auditSigner, paths: auditPaths(config.home) },
    checkpointEvery: config.auditCheckpointEvery,
    checkpointMs: config.auditCheckpointMs,
    now,
    onError: (err) => log.error({ err: (err as Error).message }, "audit checkpoint failed"),
    // A refusal to sign is a broken (or unanchored) chain: a metric and an alert, not only the log line above.
    onChainState: auditChainAlarm({ metrics, log, alertWebhook: config.alertWebhook, now }),
  });
  const quarantineRepo = new QuarantineRepository(db);
  const ruleCounters = new RuleCounters(db, config.anomaly);
  const detector = new SharedDetector(ruleCounters, config.anomaly, {
    now: () => now().getTime(),
    // What its timer flush finds is reported as a request's findings are (`controls` exists before the first tick).
    onFindings: (identity, serial, findings, time) =>
      reportFindings(controls, { identity, serial }, findings, new Date(time)),
    onError: (err) => log.warn({ err: (err as Error).message }, "shared rule counts not stored; counted on this node"),
  });
  const readCounters = new ReadCounters(db, config.anomaly);
  const reads = new ReadAdmission(readCounters, config.anomaly);
  const sweeper = setInterval(() => {
    detector.sweep(now().getTime());
    readCounters
      .sweep(now().getTime())
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, "read counter sweep failed"));
    ruleCounters
      .sweep(now().getTime())
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, "rule counter sweep failed"));
  }, 60_000);
  sweeper.unref();

  const watcher = new RegistryWatcher(registry, ca, {
    pollMs: config.revocationPollMs,
    quarantine: quarantineRepo,
    onRelease: (id) => {
      detector.reset(id);
      reads.forget(id);
    },
    crlDays: 7,
    now,
    onCrl: (pem) => {
      // Once any CRL is loaded, Node's TLS wants one for every CA of the chain (X509_V_FLAG_CRL_CHECK_ALL); without
      // the root's CRL the handshake would refuse everyone, so then revocation is enforced by the app layer alone.
      material.crl = certs.rootCrlPem === undefined ? [] : [pem, certs.rootCrlPem];
      // With the current ticket key: setSecureContext would put back createServer's (ticket-keys.ts).
      if (server) server.setSecureContext({ ...secureContextOptions(material), ticketKeys: server.getTicketKeys() });
    },
    onError: (err) => log.error({ err }, "registry poll failed"),
    vetting: registryVetting({ rootPem: certs.rootPem, intermediatePem: certs.intermediatePem, log, audit, now }),
  });
  await watcher.start();
  // PostgreSQL: hear of revocations and quarantines from other nodes at once; polling stays as the fallback.
  // A lost listening connection is re-established by itself (store/notify.ts), then the watcher polls once.
  const unlisten = await listenForRegistryChanges(db, () => void watcher.poll(), {
    onError: (err) =>
      log.warn({ err: (err as Error).message }, "registry notifications lost; polling continues until they are back"),
    onRestored: () => log.warn("registry notifications restored"),
  });
  if (certs.rootCrlPem === undefined)
    log.warn(`${paths.rootCrl} is missing: the TLS handshake will not check CRLs (requests still do)`);
  // HOME/ca/recovery.crt is used only once vetted against the CA and the registry, again whenever either changes.
  const recovery = await serverRecoveryCertificate({
    home: config.home,
    ca: certs,
    registry,
    watcher,
    log,
    audit,
    now,
  });

  let closing = false;
  const quarantines: Quarantines = {
    isQuarantined: (id) => watcher.isQuarantined(id),
    async quarantine(id, finding) {
      watcher.markQuarantined(id);
      // Until it is stored, this node alone refuses the identity (and `quarantine release` cannot see it): retry.
      for (let attempt = 0; ; attempt++) {
        try {
          await quarantineRepo.add({ identity: id, rule: finding.rule, reason: finding.message, since: now() });
          break;
        } catch (err) {
          log.error(
            { code: (err as { code?: string }).code, identity: id, attempt },
            "could not store a quarantine; retrying",
          );
          if (closing) throw err;
          await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt)));
        }
      }
      watcher.settleQuarantine(id);
      await audit.append({
        time: now(),
        actor: "certvault",
        action: "quarantine.add",
        status: 0,
        detail: { identity: id, rule: finding.rule },
      });
    },
  };
  const controls: ControlsDeps = {
    audit,
    detector,
    reads,
    quarantines,
    metrics,
    log,
    now,
    alertWebhook: config.alertWebhook,
    adminIdentities: config.adminIdentities,
  };
  const app = buildApp({
    log,
    now,
    registry: watcher,
    records: new RecordService(new RecordRepository(db), watcher, now, () => recovery.current(), {
      key: serverKey,
      certificate: identity.certPem,
      chain: [certs.intermediatePem],
    }),
    certificates: new CertificateService(
      new CertificateRequestRepository(db),
      registry,
      ca,
      config.renewal,
      now,
      new IssuanceBudget(db, { ...config.issuanceLimits, maxActive: MAX_ACTIVE_AUTO }),
    ),
    maxRecordBytes: config.maxRecordBytes,
    maxConcurrentRequests: config.maxConcurrentRequests,
    // The operator console acts under the admin's identity: its CA operations are audited with that actor.
    console: {
      db,
      home: config.home,
      watcher,
      metrics,
      now,
      authorityFor: (actor) =>
        new CertificateAuthority({
          paths,
          registry,
          signer: async () => signer,
          now,
          audit: operationAudit(new AuditRepository(db), actor, now),
        }),
    },
    limiters: {
      ...(config.rateLimits.identity.points > 0
        ? {
            identity: createLimiter({
              store: config.rateLimitStore,
              db,
              ...config.rateLimits.identity,
              keyPrefix: "identity",
            }),
          }
        : {}),
      ...(config.rateLimits.source.points > 0
        ? {
            source: createLimiter({
              store: config.rateLimitStore,
              db,
              ...config.rateLimits.source,
              keyPrefix: "source",
            }),
          }
        : {}),
    },
    ...(opts.controls === false
      ? {}
      : {
          controls,
        }),
  });
  server = createServer(
    { ...tlsOptions(material), keepAliveTimeout: 30_000, headersTimeout: 20_000, requestTimeout: 120_000 },
    awaitingRecovery(recovery, app.callback()),
  );
  // Bytes that are not HTTP after a complete request: its answer still leaves (Node's default would drop it).
  handleClientErrors(server);
  // On close(), answers still to be written end their connections (graceful-close.ts).
  const drain = drainOnClose(server);
  // Behind trusted balancers: their PROXY header is read before TLS and names the client (proxy-protocol.ts).
  if (config.trustedProxies.length > 0)
    acceptProxyProtocol(server, {
      trusted: config.trustedProxies,
      headerTimeoutMs: config.proxyHeaderTimeoutMs,
      log,
      metrics,
    });
  const tickets = rotateTicketKeys(server);
  server.on("secureConnection", (socket: TLSSocket) => {
    const cert = socket.getPeerX509Certificate();
    if (cert) watcher.track(normalizeSerial(cert.serialNumber), socket);
  });
  // Last of the secureConnection listeners: a client that is not authorized is refused (and audited) before them all.
  const handshakes = new HandshakeRefusals({ audit, metrics, log, now, alertWebhook: config.alertWebhook });
  refuseUnauthorized(server, (refused) => handshakes.refused(refused));
  server.on("tlsClientError", (err) => {
    handshakes.handshakeFailed();
    log.debug({ err: err.message }, "TLS handshake refused");
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  let enrollment: EnrollmentListener | undefined;
  let crlListener: CrlListener | undefined;

  const running: RunningServer = {
    url: `https://${host}:${port}`,
    port,
    server,
    db,
    async close() {
      closing = true;
      drain.begin();
      await enrollment?.close();
      await crlListener?.close();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
        // In-flight requests get a grace period, then whatever is left is cut.
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      // Revocations stay watched until nothing is served: notifications off first, then the watcher (whose stop()
      // awaits a poll in flight), then the database.
      await unlisten();
      await watcher.stop();
      clearInterval(sweeper);
      tickets.stop();
      await handshakes.close();
      await audit
        .close()
        .catch((err: unknown) => log.error({ err: (err as Error).message }, "final audit checkpoint failed"));
      await auditSigner.close?.();
      await detector.close();
      await db.destroy();
    },
  };
  if (config.enrollPort !== undefined) {
    // Enrollment (server-auth TLS only, POST /v1/enroll alone) on a listener of its own: see enrollment.ts.
    const limit = (l: { points: number; seconds: number }, keyPrefix: string) =>
      l.points > 0 ? createLimiter({ store: config.rateLimitStore, db, ...l, keyPrefix }) : undefined;
    const source = limit(config.enrollRateLimits.source, "enroll-source");
    const token = limit(config.enrollRateLimits.token, "enroll-token");
    try {
      enrollment = await startEnrollmentListener({
        host: config.host,
        port: config.enrollPort,
        keyPem: material.key as string,
        certPem: identity.certPem,
        deps: {
          tokens: new EnrollmentTokenRepository(db),
          ca,
          audit: (e) => audit.append(e),
          log,
          now,
          limiters: { ...(source ? { source } : {}), ...(token ? { token } : {}) },
          rootPem: certs.rootPem,
          intermediatePem: certs.intermediatePem,
          recordsUrl: recordsUrlFor(config.host, port),
          // Vetted again first if HOME/ca/recovery.crt or the registry changed (as awaitingRecovery does for the API).
          recovery: async () => {
            await recovery.ready();
            await recovery.ready();
            return recovery.current();
          },
        },
      });
    } catch (err) {
      await running.close();
      throw err;
    }
    running.enrollUrl = enrollment.url;
  }
  if (config.crlPort !== undefined) {
    try {
      crlListener = await startCrlPublishing(paths, config.host, config.crlPort, () => watcher.crlDer);
    } catch (err) {
      await running.close();
      throw err;
    }
    running.crlUrl = crlListener.url;
  }
  return running;
}
