/**
 * Starting and stopping the records server, composed of the named steps of lifecycle/: open the foundations
 * (foundations.ts), watch the registry (watch-registry.ts), build the controls and the app (start-steps.ts), listen
 * (listen.ts); then the optional enrollment and CRL listeners.
 * SIGTERM handling lives with the CLI; `close()` here stops in the reverse order: stop accepting, drain, stop hearing
 * of registry changes, stop the watcher, then close the audit log and the database.
 */
import type { Server } from "node:https";
import { pino } from "pino";
import type { Logger } from "pino";
import type { ServerConfig } from "../config/index.js";
import type { Db } from "../store/db.js";
import { EnrollmentTokenRepository } from "../store/enrollment-tokens.js";
import { createLimiter } from "../store/rate-limits.js";
import type { Controls } from "./controls.js";
import { recordsUrlFor, startEnrollmentListener } from "./listeners/enrollment.js";
import type { EnrollmentListener } from "./listeners/enrollment.js";
import { startCrlPublishing } from "./listeners/crl-listener.js";
import type { CrlListener } from "./listeners/crl-listener.js";
import { openFoundations } from "./lifecycle/foundations.js";
import type { Foundations } from "./lifecycle/foundations.js";
import { appFor, buildControls } from "./lifecycle/start-steps.js";
import { watchRegistry } from "./lifecycle/watch-registry.js";
import type { RegistryState } from "./lifecycle/watch-registry.js";
import { crlInto, listen } from "./lifecycle/listen.js";
import type { Listening } from "./lifecycle/listen.js";

export interface RunningServer {
  url: string;
  port: number;
  server: Server;
  db: Db;
  /** https://HOST:PORT of the enrollment listener, when config.enrollPort is set. */
  enrollUrl?: string;
  /** http://HOST:PORT/PATH where the CRL is served, when config.crlPort is set. */
  crlUrl?: string;
  /** Runs one registry poll now and awaits it (revocations, quarantines, CRL): for in-process tests only. */
  syncRegistry(): Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  config: ServerConfig;
  /** CA passphrase, obtained by the caller (CLI) from file, env or prompt. */
  passphrase: string;
  now?: () => Date;
  log?: Logger;
  /** Replaces the audit and abuse controls: only the benchmark's no-op ones (bench/cv-server.ts); never the CLI. */
  controls?: (real: Controls) => Controls;
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const { config } = opts;
  const now = opts.now ?? (() => new Date());
  const log = opts.log ?? pino({ level: config.logLevel, base: { svc: "certvault" } }, pino.destination(2));
  const f = await openFoundations(config, opts.passphrase, now, log);
  let server: Server | undefined = undefined;
  let registry: RegistryState | undefined;
  let listening: Listening;
  try {
    registry = await watchRegistry(
      f,
      crlInto(f, () => server),
    );
    if (f.certs.rootCrlPem === undefined)
      log.warn(`${f.paths.rootCrl} is missing: the TLS handshake will not check CRLs (requests still do)`);
    const real = buildControls(f, registry);
    const app = appFor(f, registry, opts.controls ? opts.controls(real) : real);
    listening = await listen(f, registry, app);
  } catch (err) {
    // Nothing is listening yet: stop what did start, so that a failed start leaves no timer, worker or connection.
    await abandonStart(f, registry);
    throw err;
  }
  server = listening.server;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const side: SideListeners = {};
  const running: RunningServer = {
    url: `https://${host}:${listening.port}`,
    port: listening.port,
    server,
    db: f.db,
    close: () => shutdown(f, registry, listening, side),
    syncRegistry: () => registry.watcher.sync(),
  };
  try {
    await startSideListeners(f, registry, listening.port, side);
  } catch (err) {
    await running.close();
    throw err;
  }
  if (side.enrollment) running.enrollUrl = side.enrollment.url;
  if (side.crl) running.crlUrl = side.crl.url;
  return running;
}

async function abandonStart(f: Foundations, r: RegistryState | undefined): Promise<void> {
  const quietly = (p: Promise<unknown> | undefined): Promise<unknown> | undefined => p?.catch(() => undefined);
  if (r) {
    r.quarantine.close();
    await quietly(r.unlisten());
    await quietly(r.watcher.stop());
    r.stopSweeper();
    await quietly(r.detector.close());
  }
  await quietly(f.audit.close());
  await quietly(f.auditSigner.close?.());
  await quietly(f.db.destroy());
}

interface SideListeners {
  enrollment?: EnrollmentListener;
  crl?: CrlListener;
}

/** Enrollment (server-auth TLS only, POST /v1/enroll alone, enrollment.ts) and the CRL over HTTP, when configured. */
async function startSideListeners(f: Foundations, r: RegistryState, port: number, side: SideListeners): Promise<void> {
  const { config, db, log, now, certs, identity } = f;
  if (config.enrollPort !== undefined) {
    const limit = (l: { points: number; seconds: number }, keyPrefix: string) =>
      l.points > 0 ? createLimiter({ store: config.rateLimitStore, db, ...l, keyPrefix }) : undefined;
    const source = limit(config.enrollRateLimits.source, "enroll-source");
    const token = limit(config.enrollRateLimits.token, "enroll-token");
    side.enrollment = await startEnrollmentListener({
      host: config.host,
      port: config.enrollPort,
      keyPem: f.material.key as string,
      certPem: identity.certPem,
      deps: {
        tokens: new EnrollmentTokenRepository(db),
        ca: f.ca,
        audit: (e) => f.audit.append(e),
        log,
        now,
        limiters: { ...(source ? { source } : {}), ...(token ? { token } : {}) },
        rootPem: certs.rootPem,
        intermediatePem: certs.intermediatePem,
        recordsUrl: recordsUrlFor(config.host, port),
        // Vetted again first if HOME/ca/recovery.crt or the registry changed (as for the API's uses).
        recovery: () => r.recovery.vettedNow(),
      },
    });
  }
  if (config.crlPort !== undefined)
    side.crl = await startCrlPublishing(f.paths, config.host, config.crlPort, () => r.watcher.crlDer);
}

/**
 * Stop accepting (every listener), drain the requests in flight (10 s of grace, then cut), stop hearing of
 * registry changes before stopping the watcher (a NOTIFY in between would poll a closing database), then the
 * timers, the audit log's last checkpoint, and the database last.
 */
async function shutdown(f: Foundations, r: RegistryState, l: Listening, side: SideListeners): Promise<void> {
  l.drain.begin();
  r.quarantine.close();
  await side.enrollment?.close();
  await side.crl?.close();
  l.tickets.stop();
  await new Promise<void>((done) => {
    l.server.close(() => done());
    l.server.closeIdleConnections();
    // In-flight requests get a grace period, then whatever is left is cut.
    setTimeout(() => l.server.closeAllConnections(), 10_000).unref();
  });
  await r.unlisten();
  await r.watcher.stop();
  r.stopSweeper();
  await l.handshakes.close();
  await f.audit
    .close()
    .catch((err: unknown) => f.log.error({ err: (err as Error).message }, "final audit checkpoint failed"));
  await f.auditSigner.close?.();
  // The rule counts still batched on this node are stored (anomaly/shared-detector.ts): a graceful stop loses none.
  await r.detector.close();
  await f.db.destroy();
}
