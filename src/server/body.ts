/**
 * Reading a request body under a size limit: refused from Content-Length before reading anything, and counted
 * while streaming for chunked uploads, so an oversized body never sits whole in memory. Once it is in, the caller's
 * certificate is checked for revocation again (auth.ts recheckCaller), before the handler writes anything.
 */
import { MalformedRequestError, PayloadTooLargeError } from "../errors/index.js";
import { growableBuffer, ownBuffer, OWN_PAGES_BYTES } from "../policy/memory.js";
import type { ResizableBuffer } from "../policy/memory.js";
import { recheckCaller } from "./middleware/auth.js";
import type { AppContext } from "./state.js";

export async function readBody(ctx: AppContext, limit: number): Promise<Uint8Array> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit)
    throw new PayloadTooLargeError(`the body exceeds the limit of ${limit} bytes`);
  const body = new BodyBuffer(declared);
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      if (body.total + chunk.length > limit)
        throw new PayloadTooLargeError(`the body exceeds the limit of ${limit} bytes`);
      body.add(chunk);
    }
  } catch (err) {
    // Cut off inside its body (a broken chunk, a reset, server/tls/client-error.ts): nothing was written, and no 500.
    if (err instanceof PayloadTooLargeError || ctx.req.complete) throw err;
    throw new MalformedRequestError("the request body did not arrive whole");
  }
  // The caller may have been revoked while the body was arriving (a slow upload): checked again before any write.
  await recheckCaller(ctx);
  return body.finish();
}

/**
 * The body in one buffer of its own (never the shared pool of small Buffers: callers may use `.buffer`), with one
 * copy of the bytes alive at a time where a large length is declared: its buffer (pages of its own, policy/memory.ts)
 * grows as the bytes arrive, each chunk (16 KiB, read off the TLS socket) copied in and dropped, so what a client
 * pins is what it sent, whatever it declared. Smaller bodies and chunked uploads without a Content-Length are kept
 * as chunks and copied once at the end.
 *
 * Measured (issue 17, bench/memory.ts): `new Uint8Array(Buffer.concat(...))` copied a 10 MiB body twice and held three
 * copies at once (the chunks, the concatenation, the copy); joining once held two; copying as it arrives holds one,
 * 10 MiB less per 10 MiB upload in flight.
 */
class BodyBuffer {
  total = 0;
  private chunks: Buffer[] = [];
  /** A declared body of OWN_PAGES_BYTES or more: reserved up to its declared length, grown (committed) per chunk. */
  private readonly grown: ResizableBuffer | undefined;

  constructor(private readonly declared: number | undefined) {
    if (declared !== undefined && declared >= OWN_PAGES_BYTES) this.grown = growableBuffer(declared);
  }

  add(chunk: Buffer): void {
    if (this.declared !== undefined && this.total + chunk.length > this.declared)
      throw new MalformedRequestError("the request body is longer than its Content-Length");
    if (this.grown) {
      this.grown.resize?.(this.total + chunk.length);
      new Uint8Array(this.grown, this.total, chunk.length).set(chunk);
    } else this.chunks.push(chunk);
    this.total += chunk.length;
  }

  finish(): Uint8Array {
    if (this.grown) {
      if (this.total !== this.declared) throw new MalformedRequestError("the request body did not arrive whole");
      return new Uint8Array(this.grown, 0, this.total);
    }
    const out = ownBuffer(this.total);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    this.chunks = [];
    return out;
  }
}
