// What the governor remembers about its actions and the kernel's: pure bookkeeping kept in the
// governor's context, so it is persisted with the snapshot and shown by `memgov status`.
import type { PolicyConfig } from './config.ts';
import type { ToolUse } from './attribution.ts';
import {
  ladderStateOf,
  type Action,
  type Decision,
  type LadderAction,
  type LadderFacts,
} from './policy.ts';

export type ActionOutcome =
  'ok' | 'failed' | 'timed-out' | 'skipped' | 'interrupted' | 'superseded';

/** An action as the governor dispatched it; the executor's unit of work. */
export interface PendingAction {
  readonly seq: number;
  readonly action: Action;
  readonly atMs: number;
  readonly ratio: number;
  readonly usedBytes: number;
  readonly limitBytes: number;
  /** stop-tool: the child subtree to stop, as the sample attributed it. */
  readonly tool?: ToolUse;
  /** stop-tool: the agent rung it replaced (and counts as). */
  readonly replaces?: LadderAction;
  /**
   * archive-terminate, in the request only (not in the records): when the tier 3s before it were
   * dispatched, for the relaunch step-down (machines/relaunch.ts).
   */
  readonly earlierTier3AtMs?: readonly number[];
}

/** The stop-tool fields of a decision or request, copied only when present. */
export function toolFieldsOf(source: {
  readonly action: Action | null;
  readonly tool?: ToolUse;
  readonly replaces?: LadderAction;
}): Pick<PendingAction, 'tool' | 'replaces'> {
  if (source.action !== 'stop-tool') return {};
  return {
    ...(source.tool === undefined ? {} : { tool: source.tool }),
    ...(source.replaces === undefined ? {} : { replaces: source.replaces }),
  };
}

export interface ActionRecord extends PendingAction {
  readonly outcome: ActionOutcome | 'pending';
  readonly detail: string | null;
  readonly durationMs: number | null;
  readonly finishedAtMs: number | null;
  /** Used bytes at the first sample after the result: what the action achieved. */
  readonly usedBytesAfter: number | null;
}

export interface ActionResult {
  readonly seq: number;
  readonly outcome: ActionOutcome;
  readonly detail?: string | undefined;
  readonly durationMs: number;
  readonly finishedAtMs: number;
}

/** Kernel OOM kills seen in the cgroup: each is a race the governor lost. */
export interface OomRecord {
  readonly kills: number;
  readonly lastAtMs: number | null;
  /** The tier the governor stood at when the kill was seen (0 = no action in the window). */
  readonly tierAtLast: Tier | null;
  /** The raw counter at the last sample, to see it rise. */
  readonly counter: number | null;
}

export type Tier = 0 | 1 | 2 | 3;

export const MAX_ACTION_RECORDS = 20;

export const INITIAL_OOM: OomRecord = { kills: 0, lastAtMs: null, tierAtLast: null, counter: null };

/** Where the governor stands: 3 after tier 3 fired (until re-armed), else the ladder's rung. */
export function tierOf(facts: LadderFacts, tMs: number, config: PolicyConfig): Tier {
  if (!facts.tier3Armed) return 3;
  const ladder = ladderStateOf(facts, tMs, config);
  return ladder === 'cleared' ? 2 : ladder === 'compacted' ? 1 : 0;
}

export function pendingOf(decision: Decision, seq: number): PendingAction | null {
  if (decision.action === null) return null;
  return {
    seq,
    action: decision.action,
    atMs: decision.t,
    ratio: decision.ratio,
    usedBytes: decision.usedBytes,
    limitBytes: decision.limitBytes,
    ...toolFieldsOf(decision),
  };
}

/** Appends a dispatched action, keeping the newest MAX_ACTION_RECORDS. */
export function appendDispatched(
  records: readonly ActionRecord[],
  pending: PendingAction,
): readonly ActionRecord[] {
  const record: ActionRecord = {
    ...pending,
    outcome: 'pending',
    detail: null,
    durationMs: null,
    finishedAtMs: null,
    usedBytesAfter: null,
  };
  return [...records.slice(-(MAX_ACTION_RECORDS - 1)), record];
}

/** Records an executor's result on its action; a result for an unknown seq changes nothing. */
export function applyResult(
  records: readonly ActionRecord[],
  result: ActionResult,
): readonly ActionRecord[] {
  const index = records.findIndex((r) => r.seq === result.seq && r.outcome === 'pending');
  if (index === -1) return records;
  const next = [...records];
  next[index] = {
    ...(records[index] as ActionRecord),
    outcome: result.outcome,
    detail: result.detail ?? null,
    durationMs: result.durationMs,
    finishedAtMs: result.finishedAtMs,
  };
  return next;
}

/**
 * Fills in the memory after each finished action newer than the last one measured, from the
 * first sample after it. Not only the newest: a rung can be dispatched while the one before
 * still runs (the real claude grew from 71% to 89% during its compaction, so the clear was
 * queued behind it), and the compact that then finishes first is measured all the same. Older
 * unmeasured records (left so by earlier versions) stay unmeasured: a late sample is no "after".
 */
export function applyAfter(
  records: readonly ActionRecord[],
  decision: Decision,
): readonly ActionRecord[] {
  if (decision.reason === 'invalid-sample') return records;
  const firstOpen = records.findLastIndex((r) => r.usedBytesAfter !== null) + 1;
  const measurable = (r: ActionRecord, index: number): boolean =>
    index >= firstOpen && r.finishedAtMs !== null && decision.t >= r.finishedAtMs;
  if (!records.some(measurable)) return records;
  return records.map((r, i) =>
    measurable(r, i) ? { ...r, usedBytesAfter: decision.usedBytes } : r,
  );
}

/** Marks every action still pending as interrupted (its executor died or memgov restarted). */
export function interruptPending(
  records: readonly ActionRecord[],
  detail: string,
): readonly ActionRecord[] {
  if (!records.some((r) => r.outcome === 'pending')) return records;
  return records.map((r) =>
    r.outcome === 'pending' ? { ...r, outcome: 'interrupted', detail } : r,
  );
}

/**
 * Notes a rise of the cgroup's oom_kill counter. A counter lower than the last one means a new
 * cgroup (the container restarted): it becomes the new baseline, not a kill.
 */
export function applyOomCounter(
  oom: OomRecord,
  counter: number | undefined,
  tMs: number,
  tier: Tier,
): OomRecord {
  if (counter === undefined || !Number.isFinite(counter) || counter === oom.counter) return oom;
  if (oom.counter === null || counter < oom.counter) return { ...oom, counter };
  return { kills: oom.kills + (counter - oom.counter), lastAtMs: tMs, tierAtLast: tier, counter };
}
