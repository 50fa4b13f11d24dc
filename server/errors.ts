/**
 * The one place where errors become HTTP: a CertvaultError keeps its status and code; a database that is down or full
 * becomes 503 database_unavailable / storage_full with Retry-After (the mapping of driver errors is
 * errors/storage-faults.ts, applied by asCertvaultError); anything else is logged and answered as a generic 500, so
 * no stack, SQL or key material ever reaches a client.
 */
import type { Next } from "koa";
import { CertvaultError, DatabaseUnavailableError, StorageFullError, asCertvaultError } from "../errors/index.js";
import type { AppContext } from "./state.js";

export function errorBody(e: CertvaultError): { error: { code: string; message: string } } {
  return { error: { code: e.code, message: e.message } };
}

/** During an outage every request fails the same way: one log line per code and second is enough. */
const lastLogged = new Map<string, number>();

function logFailure(ctx: AppContext, err: unknown, e: CertvaultError): void {
  const log = ctx.state.log;
  // Name, code and message only: database errors may carry values in their other fields (PostgreSQL's detail).
  const e2 = err as { name?: string; code?: string; message?: string; stack?: string };
  if (e instanceof DatabaseUnavailableError || e instanceof StorageFullError) {
    const now = Date.now();
    if (now - (lastLogged.get(e.code) ?? 0) < 1000) return;
    lastLogged.set(e.code, now);
    log?.warn(
      {
        requestId: ctx.state.requestId,
        code: e.code,
        err: { name: e2.name, code: e2.code, message: e2.message },
      },
      "database fault; answering 503",
    );
    return;
  }
  log?.error(
    {
      requestId: ctx.state.requestId,
      err: { name: e2.name, code: e2.code, message: e2.message, stack: e2.stack },
    },
    "unhandled error",
  );
}

export async function errorMapper(ctx: AppContext, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const e = asCertvaultError(err);
    // A driver error, whether it arrives raw or already wrapped (the audit trail wraps before rethrowing).
    const raw = err instanceof CertvaultError ? err.cause : err;
    if (raw !== undefined && !(raw instanceof CertvaultError) && (!(err instanceof CertvaultError) || e.status >= 500))
      logFailure(ctx, raw, e);
    ctx.status = e.status;
    ctx.body = errorBody(e);
    // RateLimitedError and its kin, DatabaseUnavailableError, StorageFullError
    const retryAfter = (e as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === "number") ctx.set("Retry-After", String(retryAfter));
    // After a refused upload the rest of the body is still on the wire: close rather than parse it as a request.
    if (e.status === 413) ctx.set("Connection", "close");
  }
}
