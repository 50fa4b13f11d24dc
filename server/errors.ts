/**
 * The one place where errors become HTTP: a CertvaultError keeps its status and code; anything else is logged and
 * answered as a generic 500, so no stack, SQL or key material ever reaches a client.
 */
import type { Context, Next } from "koa";
import { CertvaultError, RateLimitedError, asCertvaultError } from "../errors/index.js";

export function errorBody(e: CertvaultError): { error: { code: string; message: string } } {
  return { error: { code: e.code, message: e.message } };
}

export async function errorMapper(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const e = asCertvaultError(err);
    if (!(err instanceof CertvaultError)) {
      // Name, code and message only: database errors may carry values in their other fields (PostgreSQL's detail).
      const e2 = err as { name?: string; code?: string; message?: string; stack?: string };
      (ctx.state.log as { error(o: object, m: string): void } | undefined)?.error({ requestId: ctx.state.requestId as string | undefined, err: { name: e2.name, code: e2.code, message: e2.message, stack: e2.stack } }, "unhandled error");
    }
    ctx.status = e.status;
    ctx.body = errorBody(e);
    if (e instanceof RateLimitedError) ctx.set("Retry-After", String(e.retryAfterSeconds));
    // After a refused upload the rest of the body is still on the wire: close rather than parse it as a request.
    if (e.status === 413) ctx.set("Connection", "close");
  }
}
