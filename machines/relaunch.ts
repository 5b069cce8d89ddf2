// Relaunch step-down (docs/DESIGN.md, "Relaunch step-down"): what the relaunch after a tier 3
// does, from the times of the tier 3s before it. The first resumes the conversation; a second
// within the window means the resumed context is too big for the limit, so the agent starts fresh;
// a third means even a fresh agent climbs straight back, and memgov gives up (exit 4) so the pod's
// restart policy takes over visibly. Pure: the times come from the governor's decisions.

/** 30 min: a relaunch loop (32 tier 3s in 5 min in the load replay) shows well within it. */
export const DEFAULT_RELAUNCH_WINDOW_MS = 1_800_000;

/**
 * The tier-3 times the governor keeps, newest last. Two earlier ones decide the step; one more is
 * kept for the record (`memgov status`, the state file).
 */
export const TIER3_HISTORY_LENGTH = 3;

export type RelaunchStep = 'resume' | 'fresh' | 'give-up';

/**
 * The step for a tier 3 at `atMs`, given the earlier tier 3s: none within `windowMs` resumes, one
 * starts fresh, two or more give up. A time after `atMs` (the wall clock stepped back) counts as
 * recent: giving up a little early beats a loop the window cannot see.
 */
export function relaunchStep(
  earlierTier3AtMs: readonly number[],
  atMs: number,
  windowMs: number,
): RelaunchStep {
  const recent = earlierTier3AtMs.filter((t) => atMs - t < windowMs).length;
  if (recent === 0) return 'resume';
  return recent === 1 ? 'fresh' : 'give-up';
}

/** The history with a tier 3 at `atMs` added, keeping the newest TIER3_HISTORY_LENGTH. */
export function rememberTier3(history: readonly number[], atMs: number): readonly number[] {
  return [...history, atMs].slice(-TIER3_HISTORY_LENGTH);
}

/**
 * The tier-3 history of a governor's context. Snapshots written before it was kept have none:
 * their dispatched archive-terminate records stand in (the newest 20 actions), so a memgov
 * upgraded in the middle of a relaunch loop still counts the tier 3s it already made.
 */
export function tier3HistoryOf(context: {
  readonly tier3AtMs?: readonly number[];
  readonly actions: readonly { readonly action: string; readonly atMs: number }[];
}): readonly number[] {
  if (context.tier3AtMs !== undefined) return context.tier3AtMs;
  return context.actions
    .filter((record) => record.action === 'archive-terminate')
    .map((record) => record.atMs)
    .slice(-TIER3_HISTORY_LENGTH);
}
