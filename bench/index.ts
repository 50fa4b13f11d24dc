/**
 * `npm run bench`: every speed target, product beside its bare baseline in the same run, medians and ratios.
 * `npm run bench -- envelope` or `-- server` runs one part.
 */
import { benchEnvelope } from "./envelope.js";
import { benchServer } from "./server.js";

const parts: Record<string, () => Promise<void>> = { envelope: benchEnvelope, server: benchServer };
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
