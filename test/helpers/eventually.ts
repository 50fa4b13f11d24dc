/**
 * The one bounded wait of the tests: calls `fn` until its value is there, then returns that value; after `timeoutMs`
 * it fails naming `what` (and the last value seen). Use it only for effects the test cannot await directly (a row
 * another process writes, a socket the server closes, an audit entry written after the answer); a registry poll of
 * an in-process test server is awaited with `server.syncRegistry()` instead.
 */
export interface EventuallyOptions<T> {
  /** What is awaited, for the timeout's message: "the server's CRL to list eve". */
  what: string;
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Between two calls (default 20 ms). */
  intervalMs?: number;
  /** When the value counts as there (default: neither undefined, null nor false). */
  until?: (value: T) => boolean;
}

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== false;

export async function eventually<T>(fn: () => T | Promise<T>, opts: EventuallyOptions<T>): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const done = opts.until ?? present;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (done(value)) return value;
    if (Date.now() >= deadline) {
      const last = JSON.stringify(value)?.slice(0, 200) ?? String(value);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what} (last value: ${last})`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}
