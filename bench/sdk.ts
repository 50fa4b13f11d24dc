/**
 * SDK throughput against raw HTTP: `put`/`get` through CertvaultClient (sealing and opening on the client, plus the
 * GET /v1/me that `put` does to learn the recipients) against plain keep-alive POSTs of the same bytes to the bare
 * echo server. Reads cycle over a few records, as a client re-reading its own data does (not a bulk export, which the
 * anomaly rules would rightly stop).
 */
import { createPrivateKey, randomBytes } from "node:crypto";
import { Agent, request } from "node:https";
import { CertvaultClient } from "../src/client-sdk/index.js";
import type { TestIdentity } from "../src/testing/index.js";

async function forSeconds(seconds: number, concurrency: number, op: () => Promise<void>): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await op();
        n++;
      }
    }),
  );
  return n / seconds;
}

/** Keep-alive POSTs of `size` bytes; returns requests per second. */
export async function rawPosts(
  url: string,
  id: TestIdentity,
  caPem: string,
  size: number,
  concurrency: number,
  seconds: number,
): Promise<number> {
  const agent = new Agent({ keepAlive: true, ca: caPem, cert: id.certPem, key: id.keyPem });
  const body = randomBytes(size);
  try {
    return await forSeconds(
      seconds,
      concurrency,
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request(url, { method: "POST", agent, headers: { "content-length": String(size) } }, (res) => {
            res.resume();
            res.on("end", () => resolve());
          });
          req.on("error", reject);
          req.end(body);
        }),
    );
  } finally {
    agent.destroy();
  }
}

/** SDK put and get of `size`-byte records; returns operations per second for each. */
export async function sdkOps(
  url: string,
  id: TestIdentity,
  caPem: string,
  size: number,
  concurrency: number,
  seconds: number,
): Promise<{ put: number; get: number }> {
  const client = new CertvaultClient({ server: url, caPem, certPem: id.certPem, key: createPrivateKey(id.keyPem) });
  const data = randomBytes(size);
  try {
    const put = await forSeconds(seconds, concurrency, async () => {
      await client.put(data);
    });
    const ids = await Promise.all(Array.from({ length: 8 }, () => client.put(data)));
    let i = 0;
    const get = await forSeconds(seconds, concurrency, async () => {
      const back = await client.get(ids[i++ % ids.length] as string);
      if (back.byteLength !== size) throw new Error("SDK get returned the wrong size");
    });
    return { put, get };
  } finally {
    client.close();
  }
}
