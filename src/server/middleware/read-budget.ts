/**
 * A route step, after the handler of a record read (kind "get") and before a byte of the record is sent: the read
 * is counted against the read budgets shared by every node (admission.ts); a read that reaches a high-severity
 * threshold is refused (403 identity_quarantined) and quarantines the identity (findings.ts).
 */
import type { Next } from "koa";
import { IdentityQuarantinedError } from "../../errors/index.js";
import type { Controls } from "../controls.js";
import { reportFindings } from "./findings.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";

export function readBudget(deps: Controls): AppMiddleware {
  const reads = deps.reads;
  return async function budget(ctx: AppContext, next: Next): Promise<void> {
    const recordId = ctx.state.route?.recordId;
    // A record found and the caller's to read.
    if (reads && recordId !== undefined && ctx.status === 200) {
      const caller = callerOf(ctx);
      const time = deps.now();
      const quarantined = deps.quarantine.isQuarantined(caller.identity);
      const verdict = await reads.admit(caller.identity, recordId, time.getTime(), quarantined);
      reportFindings(deps, caller, verdict.report, time);
      if (verdict.refuse) {
        ctx.remove("ETag");
        throw new IdentityQuarantinedError();
      }
    }
    await next();
  };
}
