/** Operator endpoints (/metrics, the console under /admin/): only identities configured as administrators. */
import type { Next } from "koa";
import { AdminRequiredError } from "../../errors/index.js";
import { callerOf } from "../state.js";
import type { AppContext, AppMiddleware } from "../state.js";

export function requireAdmin(admins: readonly string[]): AppMiddleware {
  const set = new Set(admins);
  return async function admin(ctx: AppContext, next: Next): Promise<void> {
    if (!set.has(callerOf(ctx).identity)) throw new AdminRequiredError();
    await next();
  };
}
