// Preloaded into the server by bench/memory.ts (node --expose-gc --import): on SIGUSR2 it writes process.memoryUsage()
// to the file named by CERTVAULT_PROBE_FILE; on SIGWINCH the same after a full GC (what is still live, and what
// malloc keeps of what the GC freed). A measuring aid of the bench only, never loaded by the product.
import process from "node:process";
import { writeFileSync } from "node:fs";

const file = process.env.CERTVAULT_PROBE_FILE;
if (file) {
  const write = () => writeFileSync(file, JSON.stringify(process.memoryUsage()));
  process.on("SIGUSR2", write);
  process.on("SIGWINCH", () => {
    if (typeof globalThis.gc === "function") globalThis.gc();
    write();
  });
}
