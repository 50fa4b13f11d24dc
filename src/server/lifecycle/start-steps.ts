/**
 * The named steps startServer (index.ts) is composed of, in order: open the foundations (foundations.ts: database,
 * CA, the server's own certificate, the audit log), watch the registry (revocation and CRLs, the quarantines, the recovery
 * certificate, registry notifications), build the controls, build the app, listen.
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { TLSSocket } from "node:tls";
import type { IncomingMessage, ServerResponse } from "node:http";
import type Koa from "koa";
import { RecordRepository } from "../../store/records.js";
import { normalizeSerial } from "../../ca/serial.js";
import { QuarantineRepository } from "../../store/quarantine.js";
import { SharedDetector } from "../../anomaly/shared-detector.js";
import type { Finding } from "../../anomaly/rules.js";
import { RuleCounters } from "../../store/rule-counters.js";
import { ReadCounters } from "../../store/read-counters.js";
import { CertificateRequestRepository } from "../../store/certificate-requests.js";
import { IssuanceBudget } from "../../store/issuance-budget.js";
import { listenForRegistryChanges } from "../../store/notify.js";
import { createLimiter } from "../../store/rate-limits.js";
import { serverRecoveryCertificate } from "../../recovery/recovery-certificate.js";
import type { RecoveryCertificate } from "../../recovery/recovery-certificate.js";
import type { Foundations } from "./foundations.js";
import { RevocationWatcher } from "../revocation/revocation-watch.js";
import { registryVetting } from "../revocation/registry-vetting.js";
import { pemToDer } from "../../policy/registry-certificate.js";
import { QuarantineList } from "../../anomaly/quarantine.js";
import { ReadAdmission } from "../middleware/admission.js";
import { RecordService } from "../services/records.js";
import { CertificateService, MAX_ACTIVE_AUTO } from "../services/certificates.js";
import { buildApp } from "../app.js";
import type { Controls } from "../controls.js";
import { reportFindings } from "../middleware/findings.js";
import { drainOnClose } from "./graceful-close.js";
import type { Drain } from "./graceful-close.js";
import { secureContextOptions, tlsOptions } from "../tls/tls.js";
import { handleClientErrors } from "../tls/client-error.js";
import { acceptProxyProtocol } from "../tls/proxy-protocol.js";
import { refuseUnauthorized } from "../tls/handshake-gate.js";
import { HandshakeRefusals } from "../tls/handshake-audit.js";
import { rotateTicketKeys } from "../tls/ticket-keys.js";
import type { TicketKeyRotation } from "../tls/ticket-keys.js";

export interface RegistryState {
  watcher: RevocationWatcher;
  quarantine: QuarantineList;
  /** The window rules over counts shared by every node and kept across restarts (anomaly/shared-detector.ts). */
  detector: SharedDetector;
  /** Where the detector's timer flush reports what it finds: set by buildControls once the controls exist. */
  findings: { report?: (identity: string, serial: string | null, findings: Finding[], time: Date) => void };
  reads: ReadAdmission;
  recovery: RecoveryCertificate;
  /** Stops hearing of registry changes (PostgreSQL NOTIFY); resolves once the listening connection is closed. */
  unlisten(): Promise<void>;
  /** Stops the anomaly state's sweeper. */
  stopSweeper(): void;
}

/**
 * The registry as the server sees it: revocation and CRLs (the watcher), the quarantines, the anomaly state they
 * reset, the recovery certificate, and notifications of changes from other nodes. `tls` receives each new CRL.
 */
export async function watchRegistry(f: Foundations, onCrl: (pem: string) => void): Promise<RegistryState> {
  const { config, log, now } = f;
  const findings: RegistryState["findings"] = {};
  const ruleCounters = new RuleCounters(f.db, config.anomaly);
  const detector = new SharedDetector(ruleCounters, config.anomaly, {
    now: () => now().getTime(),
    onFindings: (identity, serial, found, time) => findings.report?.(identity, serial, found, new Date(time)),
    onError: (err) => log.warn({ err: (err as Error).message }, "shared rule counts not stored; counted on this node"),
  });
  const readCounters = new ReadCounters(f.db, config.anomaly);
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
  const quarantine = new QuarantineList(new QuarantineRepository(f.db), {
    audit: f.audit,
    log,
    now,
    onRelease: (id) => {
      detector.reset(id);
      reads.forget(id);
    },
  });
  const { rootPem, intermediatePem } = f.certs;
  const watcher = new RevocationWatcher(f.registry, f.ca, {
    pollMs: config.revocationPollMs,
    onChange: () => quarantine.reload(),
    crlDays: 7,
    now,
    onCrl,
    onError: (err) => log.error({ err }, "registry poll failed"),
    vetting: registryVetting({ rootPem, intermediatePem, log, audit: f.audit, now }),
  });
  await watcher.start();
  // PostgreSQL: hear of revocations and quarantines from other nodes at once; polling stays as the fallback.
  // A lost listening connection is re-established by itself (store/notify.ts), then the watcher polls once.
  const unlisten = await listenForRegistryChanges(f.db, () => void watcher.poll(), {
    onError: (err) =>
      log.warn({ err: (err as Error).message }, "registry notifications lost; polling continues until they are back"),
    onRestored: () => log.warn("registry notifications restored"),
  });
  // HOME/ca/recovery.crt is used only once vetted against the CA and the registry, again whenever either changes.
  const recovery = await serverRecoveryCertificate({
    home: config.home,
    ca: f.certs,
    registry: f.registry,
    watcher,
    log,
    audit: f.audit,
    now,
  });
  return {
    watcher,
    quarantine,
    detector,
    findings,
    reads,
    recovery,
    unlisten,
    stopSweeper: () => clearInterval(sweeper),
  };
}

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

export interface Listening {
  server: Server;
  port: number;
  tickets: TicketKeyRotation;
  handshakes: HandshakeRefusals;
  /** On stop, answers still to be written end their connections (graceful-close.ts). */
  drain: Drain;
}

/** The HTTPS listener: TLS hooks (revoked sockets, refused handshakes, PROXY headers, ticket keys), then listen. */
export async function listen(f: Foundations, r: RegistryState, app: Koa): Promise<Listening> {
  const { config, log, metrics } = f;
  const server = createServer(
    { ...tlsOptions(f.material), keepAliveTimeout: 30_000, headersTimeout: 20_000, requestTimeout: 120_000 },
    app.callback(),
  );
  // Bytes that are not HTTP after a complete request: its answer still leaves (Node's default would drop it).
  handleClientErrors(server);
  const drain = drainOnClose(server);
  // Expect: 100-continue. Node's default sends the 100 at once; a client then streams an over-limit body while the
  // 413 (body.ts refuses from Content-Length) closes the connection under it, and curl could report 100 instead of
  // the 413 (seen in CI). The 100 goes out only when the declared body fits; otherwise the request goes down the
  // whole path (and its audit) and is refused before the client sends a byte of its body.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if (!(Number(req.headers["content-length"]) > config.maxRecordBytes)) res.writeContinue();
    server.emit("request", req, res);
  });
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
    if (cert) r.watcher.track(normalizeSerial(cert.serialNumber), socket);
  });
  // Last of the secureConnection listeners: a client that is not authorized is refused (and audited) before them all.
  const handshakes = new HandshakeRefusals({
    audit: f.audit,
    metrics,
    log,
    now: f.now,
    alertWebhook: config.alertWebhook,
  });
  refuseUnauthorized(server, (refused) => handshakes.refused(refused));
  server.on("tlsClientError", (err) => {
    handshakes.handshakeFailed();
    log.debug({ err: err.message }, "TLS handshake refused");
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolveListen());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  return { server, port, tickets, handshakes, drain };
}

/** Swaps the live TLS context's CRL (the watcher's first CRL arrives before the server exists). */
export function crlInto(f: Foundations, server: () => Server | undefined): (pem: string) => void {
  return (pem) => {
    // Once any CRL is loaded, Node's TLS wants one for every CA of the chain (X509_V_FLAG_CRL_CHECK_ALL); without
    // the root's CRL the handshake would refuse everyone, so then revocation is enforced by the app layer alone.
    f.material.crl = f.certs.rootCrlPem === undefined ? [] : [pem, f.certs.rootCrlPem];
    // With the current ticket key: setSecureContext would put back createServer's (ticket-keys.ts).
    const s = server();
    if (s) s.setSecureContext({ ...secureContextOptions(f.material), ticketKeys: s.getTicketKeys() });
  };
}
