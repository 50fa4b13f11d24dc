/**
 * At most `max` requests of one identity in flight on this node (429 concurrency_limited); 0 turns the cap off. It
 * bounds what one identity can hold of a node's connections, memory and database pool. Per node: with N nodes an
 * identity may hold N x max, which the read budgets do not care about (they are counted in the database).
 */
import type { Next } from "koa";
import { ConcurrencyLimitedError } from "../../errors/index.js";
import type { Metrics } from "../metrics.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";

export function concurrencyCap(max: number, metrics: Metrics): AppMiddleware {
  const inFlight = new Map<string, number>();
  return async function capped(ctx: AppContext, next: Next): Promise<void> {
    if (max <= 0) return next();
    const identity = callerOf(ctx).identity;
    const n = inFlight.get(identity) ?? 0;
    if (n >= max) {
      metrics.rateLimited.inc({ scope: "concurrency" });
      throw new ConcurrencyLimitedError(max);
    }
    inFlight.set(identity, n + 1);
    try {
      await next();
    } finally {
      const left = (inFlight.get(identity) ?? 1) - 1;
      if (left <= 0) inFlight.delete(identity);
      else inFlight.set(identity, left);
    }
  };
}
