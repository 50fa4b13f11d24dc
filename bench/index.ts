/**
 * `npm run bench`: every speed target, product beside its bare baseline in the same run, medians and ratios.
 * `npm run bench -- envelope`, `-- signing`, `-- server`, `-- storage`, `-- cluster` or `-- hsm` runs one part; the cluster part needs
 * CERTVAULT_BENCH_PG=postgres://... and the hsm part SoftHSM2, and each says so when it is missing.
 */
import { benchEnvelope } from "./envelope.js";
import { benchSigning } from "./signing.js";
import { benchServer } from "./server.js";
import { benchStorage } from "./storage.js";
import { benchCluster } from "./cluster.js";
import { benchHsm } from "./hsm.js";

const parts: Record<string, () => Promise<void>> = {
  envelope: benchEnvelope,
  signing: benchSigning,
  server: benchServer,
  storage: benchStorage,
  cluster: benchCluster,
  hsm: benchHsm,
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
