/**
 * certvault's server for the controls benchmark: the same startServer the CLI runs, with the audit and abuse
 * controls on, or replaced by no-op ones ("off": the same app and pipeline, nothing audited, limited, counted or
 * quarantined; reachable only from here). Rate limits are set far above the load so that the limiter runs on every
 * request without refusing any.
 */
import { resolveServer } from "../src/config/index.js";
import { startServer } from "../src/server/index.js";
import type { Controls } from "../src/server/controls.js";
import { readFileSync } from "node:fs";

const [, , home, passphraseFile, mode] = process.argv;
const config = resolveServer(
  {
    home,
    port: "0",
    "rate-limit-identity": "100000000/60",
    "rate-limit-source": "100000000/60",
    // Runs on every request and refuses none: autocannon's 50 connections share one identity (the default is 32).
    "max-concurrent-requests": "100000",
  },
  { CERTVAULT_LOG_LEVEL: "warn" },
);

/** Controls that do nothing: what the request path costs without the audit trail, limits and rules. */
function noControls(real: Controls): Controls {
  return {
    ...real,
    audit: { append: async () => undefined },
    detector: { observe: () => Promise.resolve([]) },
    quarantine: {
      isQuarantined: () => false,
      quarantine: async () => undefined,
      release: async () => false,
    },
    reads: undefined,
    limiters: {},
    maxConcurrentRequests: 0,
  };
}

const running = await startServer({
  config,
  passphrase: readFileSync(passphraseFile as string, "utf8").trim(),
  ...(mode === "off" ? { controls: noControls } : {}),
});
process.stdout.write(`listening on ${running.url}\n`);
process.on("SIGTERM", () => void running.close().then(() => process.exit(0)));
