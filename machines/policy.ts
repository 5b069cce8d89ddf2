// The governor's policy as pure functions (docs/DESIGN.md#the-policy). No I/O and no clock: time is the
// sample's `t`. The statechart in governor.machine.ts calls `decide` once per sample and mirrors
// the resulting ladder facts as explicit states.
import type { ToolUse } from './attribution.ts';
import type { PolicyConfig } from './config.ts';

/** One reading of the cgroup. Bytes; `t` is wall-clock milliseconds. */
export interface Sample {
  readonly t: number;
  readonly current: number;
  readonly inactiveFile: number;
  readonly limit: number;
  /**
   * The agent's largest child subtree, when the sampler attributed this sample (at or above
   * compactAt) and the agent has children; a trace line may carry it too.
   */
  readonly tool?: ToolUse;
  /** PSI `some avg10` of the cgroup at this sample (percent), when the kernel has PSI. */
  readonly pressureSomeAvg10Pct?: number;
}

/** The agent's rungs, one per tier. */
export type LadderAction = 'compact' | 'clear' | 'archive-terminate';
/** stop-tool replaces an agent rung when a child subtree holds the memory (it counts as that tier). */
export type Action = LadderAction | 'stop-tool';

/** The rung of the ladder each agent action is (docs/DESIGN.md#the-policy). */
export const TIER_OF_ACTION: Readonly<Record<LadderAction, 1 | 2 | 3>> = {
  compact: 1,
  clear: 2,
  'archive-terminate': 3,
};

/** The tier an action counts as: a stop-tool counts as the rung it replaced (1 if unknown). */
export function tierOfAction(action: Action, replaces?: LadderAction): 1 | 2 | 3 {
  return action === 'stop-tool' ? TIER_OF_ACTION[replaces ?? 'compact'] : TIER_OF_ACTION[action];
}
export type Speed = 'relaxed' | 'fast' | 'urgent';
export type LadderState = 'idle' | 'compacted' | 'cleared';

/** Why a decision came out as it did; logged and journaled, stable strings. */
export type Reason =
  | 'below-threshold'
  | 'tier1-compact'
  | 'tier2-clear'
  | 'tier3-archive-terminate'
  | 'compact-window-open'
  | 'tier3-disarmed'
  | 'invalid-sample';

/**
 * What the governor remembers between samples. Everything here is persisted and survives
 * restarts of the governor and of the agent: it is what stops the loop "compact, restart,
 * climb, compact again, never escalate".
 */
export interface LadderFacts {
  /** The last compact the governor dispatched, if any (time and the ratio it was decided at). */
  readonly lastCompact: { readonly atMs: number; readonly ratio: number } | null;
  /** A clear was dispatched after `lastCompact`. */
  readonly clearedSinceCompact: boolean;
  /**
   * Tier 3 may fire; it disarms when it fires and re-arms once a ratio below compactAt is seen or
   * a new agent incarnation starts (`agentStarted`).
   */
  readonly tier3Armed: boolean;
  /**
   * The sample the growth rate is measured from, with the growth measured at it: the previous
   * valid sample, unless that came less than GROWTH_SPAN_MS before (see growthSince).
   */
  readonly previous: {
    readonly t: number;
    readonly usedBytes: number;
    readonly growthBytesPerSec?: number;
  } | null;
  /**
   * The governor's clock: the latest sample time seen, valid or not, never moving back. Windows
   * are judged on it, so a wall clock that steps back (NTP) or a sample without a usable time
   * cannot reopen a closed window or make the ladder's state disagree with its facts.
   */
  readonly clockMs: number | null;
  /** The polling speed chosen at the previous sample (for hysteresis). */
  readonly speed: Speed;
  /**
   * The agent incarnation tier 3 was last armed for (`pid:startTicks`), so that the same process
   * reported again (a restarted sampler, a restored memgov) does not re-arm it. Absent in
   * snapshots written before incarnations were tracked.
   */
  readonly agentIncarnation?: string | null;
}

export interface Decision {
  readonly t: number;
  readonly ratio: number;
  readonly usedBytes: number;
  readonly limitBytes: number;
  readonly action: Action | null;
  readonly reason: Reason;
  readonly speed: Speed;
  /** Delay to the next sample; 0 = sample again at once (right after an action). */
  readonly nextPollMs: number;
  /** Wall-clock deadline of the next sample (`t + nextPollMs`), kept so a restore re-arms it. */
  readonly nextSampleAtMs: number;
  /** Growth of the used bytes since the previous sample, bytes per second (0 when unknown). */
  readonly growthBytesPerSec: number;
  /** The sample's largest child subtree of the agent, when it carried one. */
  readonly tool?: ToolUse;
  /** With action stop-tool: the agent rung it replaced (and counts as). */
  readonly replaces?: LadderAction;
}

export const INITIAL_FACTS: LadderFacts = {
  lastCompact: null,
  clearedSinceCompact: false,
  tier3Armed: true,
  previous: null,
  clockMs: null,
  speed: 'relaxed',
};

/** The key of one agent incarnation: a PID with its start time is unique on a host. */
export function incarnationKey(agent: {
  readonly pid: number;
  readonly startTicks: number;
}): string {
  return `${agent.pid}:${agent.startTicks}`;
}

/**
 * A new agent incarnation started (a relaunch, or a new agent PID in attach mode): tier 3 re-arms,
 * because a relaunched agent that climbs straight back must meet tier 3 again, never the kernel
 * (docs/DESIGN.md#the-policy). The same incarnation seen again changes nothing.
 */
export function agentStarted(facts: LadderFacts, incarnation: string): LadderFacts {
  if (facts.agentIncarnation === incarnation) return facts;
  return { ...facts, tier3Armed: true, agentIncarnation: incarnation };
}

/** Bytes the policy measures: the working set (page cache is reclaimable) or raw usage. */
export function usedBytesOf(sample: Sample, metric: PolicyConfig['metric']): number {
  return metric === 'current' ? sample.current : Math.max(0, sample.current - sample.inactiveFile);
}

/** A sample the policy can reason about: finite, non-negative numbers and a positive limit. */
export function isUsableSample(sample: Sample): boolean {
  return (
    Number.isFinite(sample.t) &&
    Number.isFinite(sample.current) &&
    Number.isFinite(sample.inactiveFile) &&
    Number.isFinite(sample.limit) &&
    sample.current >= 0 &&
    sample.inactiveFile >= 0 &&
    sample.limit > 0
  );
}

/**
 * "A compact was dispatched within the last compactWindowMs": strictly less than the window,
 * so at exactly compactWindowMs the window has closed. `tMs` is the governor's monotone clock.
 */
export function compactInWindow(facts: LadderFacts, tMs: number, config: PolicyConfig): boolean {
  return facts.lastCompact !== null && tMs - facts.lastCompact.atMs < config.compactWindowMs;
}

/** The ladder as a named state: no compact in the window, compacted, or cleared after it. */
export function ladderStateOf(facts: LadderFacts, tMs: number, config: PolicyConfig): LadderState {
  if (!compactInWindow(facts, tMs, config)) return 'idle';
  return facts.clearedSinceCompact ? 'cleared' : 'compacted';
}

/** docs/DESIGN.md#the-policy rules in order; the first that holds wins. */
function chooseAction(
  facts: LadderFacts,
  tMs: number,
  ratio: number,
  config: PolicyConfig,
): { action: LadderAction | null; reason: Reason } {
  const inWindow = compactInWindow(facts, tMs, config);
  if (ratio >= config.terminateAt && inWindow && facts.tier3Armed) {
    return { action: 'archive-terminate', reason: 'tier3-archive-terminate' };
  }
  if (
    ratio >= config.clearAt &&
    inWindow &&
    facts.lastCompact !== null &&
    ratio > facts.lastCompact.ratio &&
    !facts.clearedSinceCompact
  ) {
    return { action: 'clear', reason: 'tier2-clear' };
  }
  if (ratio >= config.compactAt && !inWindow) {
    return { action: 'compact', reason: 'tier1-compact' };
  }
  if (ratio < config.compactAt) return { action: null, reason: 'below-threshold' };
  return {
    action: null,
    reason:
      ratio >= config.terminateAt && !facts.tier3Armed ? 'tier3-disarmed' : 'compact-window-open',
  };
}

/**
 * The stop-tool rung (docs/DESIGN.md#whose-memory-it-is): with `tools: stop`, a rung is due and
 * the sample's largest child subtree holds at least toolShareAt of the working set.
 */
export function toolHoldsTheMemory(
  sample: Sample,
  usedBytes: number,
  config: PolicyConfig,
): boolean {
  if (config.tools !== 'stop' || sample.tool === undefined || usedBytes <= 0) return false;
  return sample.tool.bytes / usedBytes >= config.toolShareAt;
}

/** The next action threshold above `ratio` (the limit itself once all are passed). */
function nextThresholdAbove(ratio: number, config: PolicyConfig): number {
  for (const threshold of [config.compactAt, config.clearAt, config.terminateAt]) {
    if (ratio < threshold) return threshold;
  }
  return 1;
}

/**
 * The floor of the urgent interval. At 500 MiB/s in a 320 MiB cgroup 70% to 100% takes 0.19 s
 * (docs/BENCHMARKS.md), so a flat 250 ms urgent poll let the kernel win before tier 3; a cgroup
 * read costs well under a millisecond, and 50 ms puts a sample within 25 MiB of each threshold.
 */
export const URGENT_FLOOR_MS = 50;

/**
 * The urgent interval: the time the measured growth needs to reach the next threshold (the limit
 * once all are passed), so the next sample lands just past it; at most urgentPollMs, at least
 * URGENT_FLOOR_MS (or urgentPollMs when that is configured lower).
 */
export function urgentDelayMs(
  headroomBytes: number,
  growthBytesPerSec: number,
  config: PolicyConfig,
): number {
  const floorMs = Math.min(URGENT_FLOOR_MS, config.urgentPollMs);
  const toThresholdMs = Math.ceil((headroomBytes / growthBytesPerSec) * 1000);
  return Math.max(floorMs, Math.min(config.urgentPollMs, toThresholdMs));
}

/**
 * Measured growth at or above this share of assumedGrowthBytesPerSec (100 MiB/s by default) is a
 * burst under way. The growth is averaged since the previous sample, so a burst that started
 * inside the interval is measured low (a 500 MiB/s burst seen at 41% of 1 GiB measured 246 MiB/s);
 * it may be climbing at the assumed rate now.
 */
export const CLIMBING_SHARE = 0.2;

/** A burst under way: the headroom interval may go below minPollMs, down to urgentPollMs. */
function climbing(growthBytesPerSec: number, config: PolicyConfig): boolean {
  return growthBytesPerSec >= config.assumedGrowthBytesPerSec * CLIMBING_SHARE;
}

/**
 * Kept back from the time the assumed growth needs to fill the cgroup: the ladder still needs
 * the sample right after an action and about two urgent ones (URGENT_FLOOR_MS each) to reach
 * tier 3 before the limit.
 */
export const LIMIT_RESERVE_MS = 150;

/**
 * The longest interval that still leaves tier 3 time before the limit at the assumed growth,
 * not below urgentPollMs. It binds only when little memory is free (under ~575 MiB at 500 MiB/s):
 * in a 320 MiB cgroup at 1/8 a 1 s floor let a 500 MiB/s burst reach the limit before the next
 * sample (bench/tier3-race.bench.ts); there memgov now samples every ~410 ms, and pays for it in
 * CPU (docs/BENCHMARKS.md, "Tier 3 before the kernel").
 */
function limitIntervalMs(freeBytes: number, config: PolicyConfig): number {
  const fillMs = (Math.max(0, freeBytes) / config.assumedGrowthBytesPerSec) * 1000;
  return Math.max(config.urgentPollMs, Math.floor(fillMs - LIMIT_RESERVE_MS));
}

/**
 * The polling speed and delay after a sample without action. Relaxed and fast intervals are
 * shortened by headroom: the time the assumed worst growth rate needs to reach the next
 * threshold (earlyoom's sleep_time_ms idea), so a burst starting between two polls is still
 * caught within about one interval (no sooner than minPollMs, or urgentPollMs while a burst is
 * climbing: a 1 s floor saw a 500 MiB/s burst 409 ms late); and never later than the measured growth needs to reach that
 * threshold (no sooner than urgentPollMs). Urgent when the measured growth projects the limit
 * within `urgentHorizonIntervals` of the interval we would otherwise use.
 */
export function choosePolling(
  facts: LadderFacts,
  tMs: number,
  ratio: number,
  usedBytes: number,
  limitBytes: number,
  growthBytesPerSec: number,
  config: PolicyConfig,
): { speed: Speed; nextPollMs: number } {
  const wasFast = facts.speed !== 'relaxed';
  const fastFloor = wasFast ? config.fastPollAt - config.fastPollHysteresis : config.fastPollAt;
  const base: Speed = ratio >= fastFloor ? 'fast' : 'relaxed';
  const ceilingMs = base === 'fast' ? config.fastPollMs : config.relaxedPollMs;
  const headroomBytes = Math.max(0, (nextThresholdAbove(ratio, config) - ratio) * limitBytes);
  const headroomMs = (headroomBytes / config.assumedGrowthBytesPerSec) * 1000;
  let baseMs = Math.floor(Math.min(ceilingMs, Math.max(config.minPollMs, headroomMs)));
  // An open compact window with memory at tier 1 ends in a new compact: be there when it closes.
  if (ratio >= config.compactAt && facts.lastCompact !== null) {
    const windowLeftMs = facts.lastCompact.atMs + config.compactWindowMs - tMs;
    if (windowLeftMs > 0) baseMs = Math.max(config.minPollMs, Math.min(baseMs, windowLeftMs));
  }
  // Applied last: urgency is judged against the ordinary interval, as before this cap.
  const limitMs = limitIntervalMs(limitBytes - usedBytes, config);
  if (growthBytesPerSec > 0) {
    const toLimitMs = (Math.max(0, limitBytes - usedBytes) / growthBytesPerSec) * 1000;
    if (toLimitMs < config.urgentHorizonIntervals * baseMs) {
      return {
        speed: 'urgent',
        nextPollMs: urgentDelayMs(headroomBytes, growthBytesPerSec, config),
      };
    }
    // The measured growth reaches the next threshold before the interval ends: look then, not
    // a whole interval later (a sample at 69.9% would otherwise wait minPollMs past the crossing).
    const toThresholdMs = Math.ceil((headroomBytes / growthBytesPerSec) * 1000);
    const climbingMs = climbing(growthBytesPerSec, config)
      ? Math.max(config.urgentPollMs, Math.floor(headroomMs))
      : baseMs;
    const nextPollMs = Math.min(baseMs, climbingMs, Math.max(config.urgentPollMs, toThresholdMs));
    return { speed: base, nextPollMs: Math.min(nextPollMs, limitMs) };
  }
  return { speed: base, nextPollMs: Math.min(baseMs, limitMs) };
}

/**
 * Growth is not measured over less than this. The sample right after an action comes a few ms
 * after it: growth over that span is noise (0 at 500 MiB/s), which dropped a burst at 89% from
 * urgent to the 1 s fast poll, and the kernel killed the agent before tier 3 (bench/tier3-race).
 */
export const GROWTH_SPAN_MS = 50;

/**
 * The growth since the reference sample, and the reference to keep: a sample closer than
 * GROWTH_SPAN_MS to it keeps the reference and its growth, so the next one measures the span.
 */
function growthSince(
  previous: LadderFacts['previous'],
  tMs: number,
  usedBytes: number,
): { growthBytesPerSec: number; reference: NonNullable<LadderFacts['previous']> } {
  const here = { t: tMs, usedBytes };
  if (previous === null)
    return { growthBytesPerSec: 0, reference: { ...here, growthBytesPerSec: 0 } };
  const elapsedMs = tMs - previous.t;
  if (elapsedMs < GROWTH_SPAN_MS) {
    return { growthBytesPerSec: previous.growthBytesPerSec ?? 0, reference: previous };
  }
  const growthBytesPerSec = ((usedBytes - previous.usedBytes) / elapsedMs) * 1000;
  return { growthBytesPerSec, reference: { ...here, growthBytesPerSec } };
}

/**
 * Decides at most one action for a sample and returns the facts to remember. Pure and total:
 * an unusable sample (non-finite, negative, zero limit) decides nothing, keeps the facts and asks
 * for a quick retry.
 */
export function decide(
  facts: LadderFacts,
  sample: Sample,
  config: PolicyConfig,
): { decision: Decision; facts: LadderFacts } {
  const seenT = !Number.isFinite(sample.t)
    ? facts.clockMs
    : facts.clockMs === null
      ? sample.t
      : Math.max(facts.clockMs, sample.t);
  const tMs = seenT ?? 0;
  if (!isUsableSample(sample)) {
    return {
      facts: seenT === facts.clockMs ? facts : { ...facts, clockMs: seenT },
      decision: {
        t: tMs,
        ratio: 0,
        usedBytes: 0,
        limitBytes: 0,
        action: null,
        reason: 'invalid-sample',
        speed: facts.speed,
        nextPollMs: config.minPollMs,
        nextSampleAtMs: tMs + config.minPollMs,
        growthBytesPerSec: 0,
      },
    };
  }
  const usedBytes = usedBytesOf(sample, config.metric);
  const ratio = usedBytes / sample.limit;
  const { action, reason } = chooseAction(facts, tMs, ratio, config);
  // The facts below follow the agent rung even when stop-tool replaces it: it counts as that tier.
  const stopsTool = action !== null && toolHoldsTheMemory(sample, usedBytes, config);
  const { growthBytesPerSec, reference } = growthSince(facts.previous, tMs, usedBytes);

  const polling = choosePolling(
    facts,
    tMs,
    ratio,
    usedBytes,
    sample.limit,
    growthBytesPerSec,
    config,
  );
  const next: LadderFacts = {
    lastCompact: action === 'compact' ? { atMs: tMs, ratio } : facts.lastCompact,
    clearedSinceCompact:
      action === 'compact' ? false : action === 'clear' ? true : facts.clearedSinceCompact,
    tier3Armed:
      action === 'archive-terminate' ? false : facts.tier3Armed || ratio < config.compactAt,
    previous: reference,
    clockMs: tMs,
    speed: polling.speed,
    ...(facts.agentIncarnation === undefined ? {} : { agentIncarnation: facts.agentIncarnation }),
  };
  // The sample right after an action comes without waiting: its effect decides the next rung.
  const nextPollMs = action === null ? polling.nextPollMs : 0;
  return {
    facts: next,
    decision: {
      t: tMs,
      ratio,
      usedBytes,
      limitBytes: sample.limit,
      action: stopsTool ? 'stop-tool' : action,
      reason,
      speed: polling.speed,
      nextPollMs,
      nextSampleAtMs: tMs + nextPollMs,
      growthBytesPerSec,
      ...(sample.tool === undefined ? {} : { tool: sample.tool }),
      ...(stopsTool && action !== null ? { replaces: action } : {}),
    },
  };
}
