/**
 * The registry step of startServer (index.ts): revocation and CRLs (the watcher), the quarantines, the anomaly state
 * they reset (shared rule counts, read admission and their sweeper), the recovery certificate, and notifications of
 * changes from other nodes.
 */
import { QuarantineRepository } from "../../store/quarantine.js";
import { SharedDetector } from "../../anomaly/shared-detector.js";
import type { Finding } from "../../anomaly/rules.js";
import { RuleCounters } from "../../store/rule-counters.js";
import { ReadCounters } from "../../store/read-counters.js";
import { listenForRegistryChanges } from "../../store/notify.js";
import { serverRecoveryCertificate } from "../../recovery/recovery-certificate.js";
import type { RecoveryCertificate } from "../../recovery/recovery-certificate.js";
import type { Foundations } from "./foundations.js";
import { RevocationWatcher } from "../revocation/revocation-watch.js";
import { registryVetting } from "../revocation/registry-vetting.js";
import { QuarantineList } from "../../anomaly/quarantine.js";
import { ReadAdmission } from "../middleware/admission.js";

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

type AnomalyState = Pick<RegistryState, "detector" | "findings" | "reads" | "stopSweeper">;

/** The shared rule counts and read admission, and the sweeper that drops their expired windows every minute. */
function anomalyState(f: Foundations): AnomalyState {
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
  return { detector, findings, reads, stopSweeper: () => clearInterval(sweeper) };
}

/** Revocation and CRLs; a registry change reloads the quarantines. */
function revocationWatcher(
  f: Foundations,
  quarantine: QuarantineList,
  onCrl: (pem: string) => void,
): RevocationWatcher {
  const { config, log, now } = f;
  const { rootPem, intermediatePem } = f.certs;
  return new RevocationWatcher(f.registry, f.ca, {
    pollMs: config.revocationPollMs,
    onChange: () => quarantine.reload(),
    crlDays: 7,
    now,
    onCrl,
    onError: (err) => log.error({ err }, "registry poll failed"),
    vetting: registryVetting({ rootPem, intermediatePem, log, audit: f.audit, now }),
  });
}

/**
 * The registry as the server sees it: revocation and CRLs (the watcher), the quarantines, the anomaly state they
 * reset, the recovery certificate, and notifications of changes from other nodes. `tls` receives each new CRL.
 */
export async function watchRegistry(f: Foundations, onCrl: (pem: string) => void): Promise<RegistryState> {
  const { config, log, now } = f;
  const anomaly = anomalyState(f);
  const quarantine = new QuarantineList(new QuarantineRepository(f.db), {
    audit: f.audit,
    log,
    now,
    onRelease: (id) => {
      anomaly.detector.reset(id);
      anomaly.reads.forget(id);
    },
  });
  const watcher = revocationWatcher(f, quarantine, onCrl);
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
  return { ...anomaly, watcher, quarantine, recovery, unlisten };
}
