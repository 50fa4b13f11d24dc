/**
 * How one entry of the route table (routes.ts) runs: note the route's declared action and kind (state.route), the
 * write's attempt entry (write-ahead.ts; not for GET), the route's guards, the handler, whose outcome joins
 * state.route, and for a record read the read budget (read-budget.ts). Then the route ends: the table runs a route's
 * steps without a next (route-table.ts), so nothing after them runs, not another route nor the 404 of app.ts.
 */
import type { Middleware } from "koa";
import type { AccessAction } from "../anomaly/rules.js";
import type { Caller } from "./middleware/auth.js";
import { isRecordId } from "../policy/record-id.js";
import { callerOf } from "./state.js";
import type { AppMiddleware, AppState, RouteContext, RouteOutcome } from "./state.js";
import type { RouteMethod, RouteTable } from "./route-table.js";

type RouteStep = Middleware<AppState, RouteContext>;

export interface RouteSpec {
  method: RouteMethod;
  path: string | string[];
  /** The action its audit entries name. */
  action: string;
  /** What the anomaly rules count it as (anomaly/rules.ts). */
  kind: AccessAction;
  /** Steps between the controls and the handler (the console's headers, the admin gate). */
  guards?: AppMiddleware[];
  handle(ctx: RouteContext, caller: Caller): Promise<RouteOutcome | void> | RouteOutcome | void;
}

/**
 * The route's declared action and kind, and the record id its path names when well-formed: only such an id goes into
 * the audit trail, since the path is the caller's text.
 */
function note(spec: RouteSpec): RouteStep {
  // Not async: nothing to do after the rest (middleware/hsts.ts says why).
  return function route(ctx, next) {
    const id = ctx.params.id;
    ctx.state.route = {
      action: spec.action,
      kind: spec.kind,
      ...(id !== undefined && isRecordId(id) ? { recordId: id } : {}),
    };
    return next();
  };
}

function run(spec: RouteSpec): RouteStep {
  return async function handler(ctx, next) {
    const outcome = await spec.handle(ctx, callerOf(ctx));
    const route = ctx.state.route;
    if (outcome && route) Object.assign(route, outcome);
    await next();
  };
}

export function mount(table: RouteTable, spec: RouteSpec, attempt: AppMiddleware, budget: AppMiddleware): void {
  const steps: RouteStep[] = [
    note(spec),
    ...(spec.method === "GET" ? [] : [attempt]),
    ...(spec.guards ?? []),
    run(spec),
    ...(spec.kind === "get" ? [budget] : []),
  ];
  for (const path of typeof spec.path === "string" ? [spec.path] : spec.path) table.add(spec.method, path, steps);
}
