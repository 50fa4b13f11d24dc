/**
 * Reading a request body under a size limit: refused from Content-Length before reading anything, and counted
 * while streaming for chunked uploads, so an oversized body never sits whole in memory. Once it is in, the caller's
 * certificate is checked for revocation again (auth.ts recheckCaller), before the handler writes anything.
 */
import { MalformedRequestError, PayloadTooLargeError } from "../errors/index.js";
import { recheckCaller } from "./middleware/auth.js";
import type { AppContext } from "./state.js";

export async function readBody(ctx: AppContext, limit: number): Promise<Uint8Array> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit)
    throw new PayloadTooLargeError(`the body exceeds the limit of ${limit} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) throw new PayloadTooLargeError(`the body exceeds the limit of ${limit} bytes`);
      chunks.push(chunk);
    }
  } catch (err) {
    // Cut off inside its body (a broken chunk, a reset, server/tls/client-error.ts): nothing was written, and no 500.
    if (err instanceof PayloadTooLargeError || ctx.req.complete) throw err;
    throw new MalformedRequestError("the request body did not arrive whole");
  }
  // The caller may have been revoked while the body was arriving (a slow upload): checked again before any write.
  await recheckCaller(ctx);
  return joinChunks(chunks, total);
}

/**
 * The chunks in one buffer of its own, copied once. (`new Uint8Array(Buffer.concat(...))` copied a 10 MiB body twice
 * and held three copies at once: the chunks, the concatenation and the copy; measured, issue 17.) Never the shared
 * pool of small Buffers: callers may use `.buffer`.
 */
function joinChunks(chunks: Buffer[], total: number): Uint8Array {
  const out = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  chunks.length = 0;
  return out;
}
