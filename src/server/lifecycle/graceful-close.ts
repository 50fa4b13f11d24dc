/**
 * Draining on stop: once close() begins, every answer still to be written says `Connection: close` and its
 * connection ends after it. Without this, a kept-alive connection busy when the stop began stayed open for as long as
 * its client kept it busy (Node closes only connections idle at server.close(), and a client sending every 100 ms
 * never leaves one idle for the 5 s keep-alive timeout), served until the 10 s cut: found by the soak (issue 19).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "node:https";

export interface Drain {
  /** From now on no answer keeps its connection alive, including those of requests already in flight. */
  begin(): void;
}

export function drainOnClose(server: Server): Drain {
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  const noKeepAlive = (res: ServerResponse): void => {
    // Read by Node when the head is written (`Connection: close`, then the socket ends after the answer). A header
    // set here alone would be dropped by Koa's error path, which clears the headers before writing an error.
    if (!res.headersSent) res.shouldKeepAlive = false;
  };
  server.prependListener("request", (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) return noKeepAlive(res);
    inFlight.add(res);
    res.once("close", () => inFlight.delete(res));
  });
  return {
    begin() {
      draining = true;
      for (const res of inFlight) noKeepAlive(res);
      inFlight.clear();
    },
  };
}
