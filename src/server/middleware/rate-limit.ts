/** Token-bucket style limit keyed per source address (before authentication) or per identity (after it). */
import type { Next } from "koa";
import { RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { RateLimitedError, ServiceUnavailableError } from "../../errors/index.js";
import type { Metrics } from "../metrics.js";
import { sourceOf } from "../controls.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";

export function rateLimit(
  limiter: RateLimiterAbstract | undefined,
  scope: "identity" | "source",
  metrics: Metrics,
): AppMiddleware {
  if (!limiter) return async (_ctx: AppContext, next: Next): Promise<void> => next();
  return async function limited(ctx: AppContext, next: Next): Promise<void> {
    const key = scope === "identity" ? callerOf(ctx).identity : sourceOf(ctx);
    try {
      await limiter.consume(key, 1);
    } catch (err) {
      // A limiter that cannot count (its database is down) refuses rather than lets everything through.
      if (!(err instanceof RateLimiterRes)) throw new ServiceUnavailableError("the rate limiter is unavailable");
      metrics.rateLimited.inc({ scope });
      throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
    }
    await next();
  };
}
