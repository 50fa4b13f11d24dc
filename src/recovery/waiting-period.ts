/**
 * The waiting period between `certvault recovery request` and `certvault recover`: pure functions of the request,
 * the period asked for, the policy fixed at `recovery init`, and the time (given, never read from a clock here).
 */
import { UsageError } from "../errors/index.js";
import type { RecoveryPolicy } from "./recovery-files.js";

const HOUR_MS = 3_600_000;

/** The period to wait: the one asked for (flag or configuration), never shorter than the policy's; the policy's by default. */
export function waitHoursFor(asked: number | undefined, policy: RecoveryPolicy): number {
  const hours = asked ?? policy.minWaitHours;
  if (!Number.isFinite(hours) || hours < policy.minWaitHours)
    throw new UsageError(`--wait-hours cannot be shorter than the ${policy.minWaitHours} h fixed by \`recovery init\``);
  return hours;
}

/** When a recovery requested at `requestedAt` may run. */
export function waitingPeriodEnd(requestedAt: Date, waitHours: number): Date {
  return new Date(requestedAt.getTime() + waitHours * HOUR_MS);
}

/** Whether the waiting period is over at `now` (at its end exactly, it is). */
export function waitingPeriodOver(requestedAt: Date, waitHours: number, now: Date): boolean {
  return now.getTime() >= waitingPeriodEnd(requestedAt, waitHours).getTime();
}
