/**
 * Rate-limit counters shared by every node: rate-limiter-flexible's PostgreSQL store over our knex connection and
 * the `rate_limits` table the migrations create. SQLite serves one node, where the in-memory limiter is the same
 * thing without the round trip.
 */
import { RateLimiterMemory, RateLimiterPostgres } from "rate-limiter-flexible";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { UsageError } from "../errors/index.js";
import type { Db } from "./db.js";

export type RateLimitStore = "memory" | "database";

export function createLimiter(opts: {
  store: RateLimitStore;
  db: Db;
  points: number;
  seconds: number;
  keyPrefix: string;
}): RateLimiterAbstract {
  if (opts.store === "memory")
    return new RateLimiterMemory({ points: opts.points, duration: opts.seconds, keyPrefix: opts.keyPrefix });
  if (opts.db.client.config.client !== "pg") {
    throw new UsageError(
      "the database rate-limit store is for several nodes on PostgreSQL; with SQLite use the memory store",
    );
  }
  return new RateLimiterPostgres({
    storeClient: opts.db,
    storeType: "knex",
    tableName: "rate_limits",
    tableCreated: true,
    points: opts.points,
    duration: opts.seconds,
    keyPrefix: opts.keyPrefix,
  });
}
