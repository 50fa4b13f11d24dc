/** A quarantined identity (quarantine.ts) is refused before it reaches any route. */
import type { Next } from "koa";
import { IdentityQuarantinedError } from "../../errors/index.js";
import type { Quarantine } from "../../anomaly/quarantine.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";

export function quarantineGate(q: Pick<Quarantine, "isQuarantined">): AppMiddleware {
  // Not async (hsts.ts says why); a refusal thrown here reaches errors.ts as a rejection (koa-compose catches it).
  return function gate(ctx: AppContext, next: Next): Promise<void> {
    if (q.isQuarantined(callerOf(ctx).identity)) throw new IdentityQuarantinedError();
    return next();
  };
}
