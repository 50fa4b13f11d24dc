/**
 * A real certvault server for tests, in this process, on 127.0.0.1 and a free port, over a TestCA's home and
 * database. `stop()` closes every connection and the database.
 */
import { join } from "node:path";
import { pino } from "pino";
import { resolveServer } from "../config/index.js";
import type { ServerConfig } from "../config/index.js";
import { startServer } from "../server/index.js";
import type { RunningServer } from "../server/index.js";
import type { TestCA } from "./test-ca.js";

export interface TestServer {
  url: string;
  port: number;
  running: RunningServer;
  stop(): Promise<void>;
}

export async function startTestServer(opts: { ca: TestCA; config?: Partial<ServerConfig>; now?: () => Date }): Promise<TestServer> {
  const config: ServerConfig = {
    ...resolveServer({ home: opts.ca.home, port: "0", db: join(opts.ca.home, "certvault.db") }, {}),
    revocationPollMs: 100,
    ...opts.config,
  };
  const running = await startServer({ config, passphrase: opts.ca.passphrase, log: pino({ level: "silent" }), ...(opts.now ? { now: opts.now } : {}) });
  return {
    url: running.url,
    port: running.port,
    running,
    async stop() {
      running.server.closeAllConnections();
      await running.close();
    },
  };
}
