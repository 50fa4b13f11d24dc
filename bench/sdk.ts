/**
 * SDK throughput against raw HTTP: `put`/`get` through CertvaultClient (sealing and opening on the client, plus the
 * GET /v1/me that `put` does to learn the recipients) against plain keep-alive requests from this process:
 * - rawRecordOps (issue 17's baseline): the SDK's own requests with the same envelope bytes to the same certvault
 *   server, PUT /v1/records/NEW-ID (If-None-Match: *) and GET /v1/records/ID, so that the ratio is what the SDK
 *   itself costs (sealing, signing, the GET /v1/me before each put, opening and verifying);
 * - rawPosts: POSTs of as many bytes to the bare echo server (what HTTPS alone allows).
 * Reads cycle over a few records, as a client re-reading its own data does (not a bulk export, which the anomaly
 * rules would rightly stop).
 */
import { createPrivateKey, randomBytes } from "node:crypto";
import { Agent, request } from "node:https";
import { CertvaultClient, newRecordId } from "../src/client-sdk/index.js";
import { openContent, seal, signRecord, verifyRecordSignature } from "../src/envelope/index.js";
import type { TestIdentity } from "../src/testing/index.js";

/** Operations per second of `op` run `concurrency` at a time for `seconds`. */
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

/**
 * SDK put and get of `size`-byte records; returns operations per second for each. `warmSeconds` of unmeasured puts
 * and gets first: a cold client put ~250 ops/s in its first 5 s and ~650 in its third (V8 optimising the SDK's
 * code and the server's PUT path as they run), as bench/server.ts warms every server.
 */
export async function sdkOps(
  url: string,
  id: TestIdentity,
  caPem: string,
  size: number,
  concurrency: number,
  seconds: number,
  warmSeconds = 0,
): Promise<{ put: number; get: number }> {
  const client = new CertvaultClient({ server: url, caPem, certPem: id.certPem, key: createPrivateKey(id.keyPem) });
  const data = randomBytes(size);
  try {
    if (warmSeconds > 0) {
      const warmId = await client.put(data);
      await forSeconds(warmSeconds / 2, concurrency, async () => void (await client.put(data)));
      await forSeconds(warmSeconds / 2, concurrency, async () => void (await client.get(warmId)));
    }
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

/** One keep-alive request; resolves with the status once the answer is read, rejects on an unexpected status. */
function send(
  agent: Agent,
  url: string,
  method: string,
  body: Uint8Array | undefined,
  headers: Record<string, string>,
  expect: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      res.resume();
      res.on("end", () =>
        res.statusCode === expect ? resolve() : reject(new Error(`${method} ${url}: ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end(body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined);
  });
}

/** As forSeconds, and this process's CPU time per operation (µs, user + system): the client's share of each. */
async function withClientCpu(
  seconds: number,
  concurrency: number,
  op: () => Promise<void>,
): Promise<{ perSec: number; cpuUs: number }> {
  const before = process.cpuUsage();
  const perSec = await forSeconds(seconds, concurrency, op);
  const used = process.cpuUsage(before);
  return { perSec, cpuUs: perSec > 0 ? (used.user + used.system) / (perSec * seconds) : 0 };
}

/**
 * The SDK's cryptography alone, on this process's core, per second: for a get, opening the envelope (ECDH, key
 * unwrap, AES-GCM) and verifying the record's signature (ECDSA); for a put, signing it and sealing it to `recipients`.
 * With the client's CPU per raw request, these bound what the SDK can reach on one client core (sdkCeiling).
 */
export function sdkCrypto(
  envelope: Uint8Array,
  id: TestIdentity,
  chain: string,
  size: number,
  seconds: number,
): { openVerify: number; signSeal: number } {
  const key = createPrivateKey(id.keyPem);
  const data = randomBytes(size);
  const timed = (op: () => void): number => {
    const end = Date.now() + seconds * 1000;
    let n = 0;
    for (; Date.now() < end; n++) op();
    return n / seconds;
  };
  const openVerify = timed(() => {
    const opened = openContent(envelope, key, id.certPem);
    verifyRecordSignature(opened.content);
  });
  const signer = { key, certificate: id.certPem, chain: [chain] };
  const signSeal = timed(() => {
    const signed = signRecord(data, signer, { owner: id.name, id: newRecordId() });
    seal(signed, [id.certPem], { contentType: "signed-data" });
  });
  return { openVerify, signSeal };
}

/**
 * What the SDK could reach on one client core: each operation costs the client its raw requests' CPU (measured
 * here, in the raw runs) plus its cryptography alone, one after the other; and it is never faster than the raw
 * requests themselves (the server's side).
 */
export function sdkCeiling(raw: { perSec: number; cpuUs: number }, cryptoPerSec: number): number {
  if (cryptoPerSec <= 0 || raw.perSec <= 0) return 0;
  return Math.min(raw.perSec, 1e6 / (raw.cpuUs + 1e6 / cryptoPerSec));
}

/**
 * The SDK's requests without the SDK: records of `size` bytes are put once through the SDK, then the same envelope
 * bytes are PUT under new ids (what `put` sends) and the stored envelopes are fetched (what `get` fetches) with a
 * plain keep-alive Agent, `concurrency` at a time; `mePut`: a GET /v1/me then that PUT, the two requests of an SDK
 * put. Returns operations per second for each.
 */
export async function rawRecordOps(
  url: string,
  id: TestIdentity,
  caPem: string,
  size: number,
  concurrency: number,
  seconds: number,
): Promise<{
  put: number;
  get: { perSec: number; cpuUs: number };
  mePut: { perSec: number; cpuUs: number };
  envelope: Uint8Array;
}> {
  const client = new CertvaultClient({ server: url, caPem, certPem: id.certPem, key: createPrivateKey(id.keyPem) });
  const agent = new Agent({ keepAlive: true, ca: caPem, cert: id.certPem, key: id.keyPem });
  try {
    const data = randomBytes(size);
    const ids = await Promise.all(Array.from({ length: 8 }, () => client.put(data)));
    const envelope = await client.getEnvelope(ids[0] as string);
    const headers = {
      "content-type": "application/pkcs7-mime",
      "if-none-match": "*",
      "content-length": String(envelope.byteLength),
    };
    const put = await forSeconds(seconds, concurrency, () =>
      send(agent, `${url}/v1/records/${newRecordId()}`, "PUT", envelope, headers, 201),
    );
    let i = 0;
    const get = await withClientCpu(seconds, concurrency, () =>
      send(agent, `${url}/v1/records/${ids[i++ % ids.length] as string}`, "GET", undefined, {}, 200),
    );
    // Both requests of an SDK put (GET /v1/me for the recipients, then the PUT), without its crypto: its ceiling.
    const mePut = await withClientCpu(seconds, concurrency, async () => {
      await send(agent, `${url}/v1/me`, "GET", undefined, {}, 200);
      await send(agent, `${url}/v1/records/${newRecordId()}`, "PUT", envelope, headers, 201);
    });
    return { put, get, mePut, envelope };
  } finally {
    client.close();
    agent.destroy();
  }
}
