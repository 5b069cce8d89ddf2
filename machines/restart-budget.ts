// OTP's restart intensity as a pure function: a supervisor may restart its children at most
// `intensity` times within any `periodMs`; one more restart than that means the fault is not
// transient, and the supervisor gives up so the process-level loop (the container entrypoint)
// can restart everything from the persisted state. The clock is read by the caller.

export interface RestartBudget {
  /** Restarts allowed within one period. 0 means the first failure is fatal. */
  readonly intensity: number;
  readonly periodMs: number;
}

export const DEFAULT_RESTART_BUDGET: RestartBudget = { intensity: 5, periodMs: 60_000 };

export interface BudgetVerdict {
  /** True when this restart stays within the budget. */
  readonly allowed: boolean;
  /** Restart times still inside the period, including this one; what the caller keeps. */
  readonly recentMs: readonly number[];
}

/** Decides whether one more restart at `nowMs` fits, given earlier restart times. */
export function chargeRestart(
  earlierMs: readonly number[],
  nowMs: number,
  budget: RestartBudget,
): BudgetVerdict {
  // Restarts older than one period no longer count; a time after `now` (a clock step back)
  // still counts, so a stepping clock cannot launder a crash loop.
  const recentMs = [...earlierMs.filter((t) => nowMs - t < budget.periodMs), nowMs];
  return { allowed: recentMs.length <= budget.intensity, recentMs };
}
