/**
 * What one request carries from step to step (Koa's ctx.state), typed once for Koa and the router. Each field names
 * the one step that sets it; later steps read it, never the reverse, and nothing reads back a response body or a
 * query string to learn what a route did: the route says so here (RouteNote).
 */
import type { Middleware, ParameterizedContext } from "koa";
import type { Logger } from "pino";
import type { AccessAction } from "../anomaly/rules.js";
import { ClientCertificateRequiredError } from "../errors/index.js";
import type { Caller } from "./middleware/auth.js";

/** For a list: whether the request continued a walk (a cursor was used) and whether it reached the end. */
export interface ListOutcome {
  cursor: boolean;
  end: boolean;
}

/** What a handler tells the audit entry and the anomaly rules about what it did (routes.ts). */
export interface RouteOutcome {
  /** The record the request created, when the path did not name it. */
  recordId?: string;
  /** A record read: when it was last written (stale_access). */
  recordUpdatedAt?: Date;
  list?: ListOutcome;
}

/** The matched route's declared audit action and access kind (routes.ts), and its handler's outcome once it ran. */
export interface RouteNote extends RouteOutcome {
  action: string;
  kind: AccessAction;
  /** A write's attempt entry is committed (write-ahead.ts): the write may have happened. */
  attempted?: boolean;
}

export interface AppState {
  /** access-log.ts, first step. */
  requestId?: string;
  /** access-log.ts: the server logger as it is (a per-request child costs more than the rest of the bookkeeping). */
  log?: Logger;
  /** auth.ts: the authenticated caller. */
  caller?: Caller;
  /** auth.ts: the revocation check again; readBody (body.ts) runs it once the body is in, before anything is written. */
  recheck?: () => Promise<void>;
  /** routes.ts: the matched route; absent for a request no route took (audited as a plain "request"). */
  route?: RouteNote;
}

/** A request's context in the app-level steps (app.ts). */
export type AppContext = ParameterizedContext<AppState>;
export type AppMiddleware = Middleware<AppState>;
/** A request's context inside a route (path parameters known). */
export type RouteContext = AppContext & { params: Readonly<Record<string, string | undefined>> };

/** The request's raw path: Koa's ctx.path is null for a request target without one (`GET foo://bar`). */
export function requestPath(ctx: AppContext): string {
  return (ctx.path as string | null) ?? "";
}

/** The authenticated caller; a route reached without one (never, as auth runs first) fails closed. */
export function callerOf(ctx: { state: AppState }): Caller {
  const caller = ctx.state.caller;
  if (!caller) throw new ClientCertificateRequiredError();
  return caller;
}
