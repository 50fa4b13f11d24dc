/**
 * HTTP Strict Transport Security on every answer of the TLS listeners: a browser that once reached the console over
 * HTTPS never tries plain HTTP for a year. No includeSubDomains: the server's name is the operator's, not ours.
 */
import type { Context, Next } from "koa";

export const HSTS_HEADER = "max-age=31536000";

/**
 * Outermost middleware: set before anything can fail, so error answers carry it too. Not `async`: a step with nothing
 * to do after the rest hands on next()'s promise (an async pass-through layer costs ~2-3 us per request here:
 * docs/performance.md, "Fewer async layers").
 */
export function hsts(ctx: Context, next: Next): Promise<void> {
  ctx.set("Strict-Transport-Security", HSTS_HEADER);
  return next();
}
