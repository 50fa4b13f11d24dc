/**
 * `npm run bench`: every speed target, product beside its bare baseline in the same run, medians and ratios.
 * `npm run bench -- envelope`, `-- signing`, `-- server`, `-- storage`, `-- cluster`, `-- hsm`, `-- pipeline` (the cost
 * of each step of the request path), `-- kit` (the test kit's speed) or `-- resumption` (TLS resumption against full
 * handshakes, certvault beside bare node:https) runs one part; the cluster part needs
 * CERTVAULT_BENCH_PG=postgres://... and the hsm part SoftHSM2, and each says so when it is missing.
 */
import { benchEnvelope } from "./envelope.js";
import { benchSigning } from "./signing.js";
import { benchServer } from "./server.js";
import { benchStorage } from "./storage.js";
import { benchCluster } from "./cluster.js";
import { benchHsm } from "./hsm.js";
import { benchPipeline } from "./pipeline.js";
import { benchKit } from "./kit.js";
import { benchResumption } from "./resumption.js";

const parts: Record<string, () => Promise<void>> = {
  envelope: benchEnvelope,
  signing: benchSigning,
  server: benchServer,
  storage: benchStorage,
  cluster: benchCluster,
  hsm: benchHsm,
  pipeline: benchPipeline,
  kit: benchKit,
  resumption: benchResumption,
};
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
for (const name of wanted) {
  if (!(name in parts)) {
    console.error(`unknown bench part "${name}"; parts: ${Object.keys(parts).join(", ")}`);
    process.exit(2);
  }
}
for (const [name, run] of Object.entries(parts)) {
  if (wanted.length === 0 || wanted.includes(name)) await run();
}
