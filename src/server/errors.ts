/**
 * The one place where errors become HTTP: a CertvaultError answers with its code and the registry's status
 * (errors/registry.ts); a database that is down or full becomes 503 database_unavailable / storage_full with
 * Retry-After (the mapping of driver errors is errors/storage-faults.ts, applied by asCertvaultError); anything else is
 * logged and answered as a generic 500. As in koa, only a message below 500 reaches the client: a 5xx answer carries
 * the registry's fixed text for its code, so no stack, SQL, path or key material ever does. The koa app, the
 * enrollment listener and the raw parser answers (client-error.ts) all answer through httpAnswer.
 */
import type { Next } from "koa";
import {
  CertvaultError,
  DatabaseUnavailableError,
  StorageFullError,
  asCertvaultError,
  publicMessage,
} from "../errors/index.js";
import type { ErrorCode } from "../errors/index.js";
import type { AppContext } from "./state.js";

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** Status and body for `e`. An SDK-side error (no HTTP status) that reaches the server is a bug: a 500. */
export function httpAnswer(e: CertvaultError): { status: number; body: ErrorBody } {
  if (e.status === null)
    return { status: 500, body: { error: { code: "internal_error", message: publicMessage("internal_error") } } };
  return { status: e.status, body: { error: { code: e.code, message: e.expose ? e.message : publicMessage(e.code) } } };
}

export function errorBody(e: CertvaultError): ErrorBody {
  return httpAnswer(e).body;
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

/** The message a 5xx answer did not carry goes to the log, so the operator still learns what failed. */
function logHidden(ctx: AppContext, e: CertvaultError): void {
  ctx.state.log?.error({ requestId: ctx.state.requestId, code: e.code, message: e.message }, "refused");
}

export async function errorMapper(ctx: AppContext, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const e = asCertvaultError(err);
    // A driver error, whether it arrives raw or already wrapped (the audit trail wraps before rethrowing).
    const raw = err instanceof CertvaultError ? err.cause : err;
    const answer = httpAnswer(e);
    if (
      raw !== undefined &&
      !(raw instanceof CertvaultError) &&
      (!(err instanceof CertvaultError) || answer.status >= 500)
    )
      logFailure(ctx, raw, e);
    else if (answer.status >= 500 && answer.body.error.message !== e.message) logHidden(ctx, e);
    ctx.status = answer.status;
    ctx.body = answer.body;
    // RateLimitedError and its kin, DatabaseUnavailableError, StorageFullError
    const retryAfter = (e as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === "number") ctx.set("Retry-After", String(retryAfter));
    // After a refused upload the rest of the body is still on the wire: close rather than parse it as a request.
    if (answer.status === 413) ctx.set("Connection", "close");
  }
}
