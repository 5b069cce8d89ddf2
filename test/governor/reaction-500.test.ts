// The relaxed interval sized for 500 MiB/s (docs/DESIGN.md, "The policy"; issue 13 point 5): a
// burst at 500 MiB/s that starts at any moment of a relaxed interval is first seen within 300 ms
// of the 70% crossing, and tier 3 is decided before the limit. The policy is driven on a
// simulated clock over a modelled cgroup, the way the reaction bench drives the daemon
// (docs/BENCHMARKS.md, "1. Reaction time": 1 GiB limit, 128 MiB before the burst).
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type PolicyConfig } from '../../machines/config.ts';
import { decide, INITIAL_FACTS, type LadderFacts } from '../../machines/policy.ts';

const MiB = 1024 * 1024;
const LIMIT = 1024 * MiB;
const START = 128 * MiB;
/**
 * The sample right after an action (nextPollMs 0) comes once the action is handed over: ~20 ms,
 * and 5-10 ms under --dry-run in the real-cgroup tier 3 bench (bench/tier3-race.bench.ts).
 */
const ACTION_MS = 20;
/** Timer lateness on a loaded machine, added to every delay. */
const LATE_MS = 5;

interface Run {
  /** First sample at or above compactAt, minus the 70% crossing (ms). */
  readonly reactionMs: number;
  /** Tier 3's decision time minus the moment the limit is reached (negative: before it). */
  readonly tier3BeforeLimitMs: number;
}

/** One burst of `rateMiBPerSec` starting `phaseMs` after a relaxed sample. */
function simulate(
  config: PolicyConfig,
  rateMiBPerSec: number,
  phaseMs: number,
  { actionMs = ACTION_MS, stepMs = 0 } = {},
): Run {
  const rate = (rateMiBPerSec * MiB) / 1000;
  const t0 = 1_000_000;
  const burstAt = t0 + phaseMs;
  // stepMs > 0: memory grows in steps, as an allocator that takes a chunk every stepMs does.
  const grownMs = (t: number): number =>
    stepMs > 0 ? Math.floor(Math.max(0, t - burstAt) / stepMs) * stepMs : Math.max(0, t - burstAt);
  const used = (t: number): number => START + rate * grownMs(t);
  const crossingAt = burstAt + (0.7 * LIMIT - START) / rate;
  const limitAt = burstAt + (LIMIT - START) / rate;
  let facts: LadderFacts = INITIAL_FACTS;
  let t = t0;
  let compactAt: number | null = null;
  for (let step = 0; step < 10_000; step++) {
    const sample = { t, current: Math.round(used(t)), inactiveFile: 0, limit: LIMIT };
    const next = decide(facts, sample, config);
    facts = next.facts;
    if (next.decision.action === 'compact') compactAt = t;
    if (next.decision.action === 'archive-terminate' && compactAt !== null)
      return { reactionMs: compactAt - crossingAt, tier3BeforeLimitMs: t - limitAt };
    const delay = next.decision.nextPollMs;
    t += delay === 0 ? actionMs : delay + LATE_MS;
  }
  throw new Error('no tier 3 in 10,000 samples');
}

/** The first relaxed interval from 128 MiB of 1 GiB, and bursts starting across all of it. */
function phasesOf(config: PolicyConfig): number[] {
  const first = decide(
    INITIAL_FACTS,
    { t: 0, current: START, inactiveFile: 0, limit: LIMIT },
    config,
  );
  const intervalMs = first.decision.nextPollMs;
  return Array.from({ length: 200 }, (_, i) => (i * intervalMs) / 200);
}

describe('reaction at 500 MiB/s from a relaxed interval (simulated clock)', () => {
  it('the default relaxed interval is sized for 500 MiB/s: 128 MiB of 1 GiB polls every ~1.2 s', () => {
    const first = decide(
      INITIAL_FACTS,
      { t: 0, current: START, inactiveFile: 0, limit: LIMIT },
      DEFAULT_POLICY,
    );
    expect(DEFAULT_POLICY.assumedGrowthBytesPerSec).toBe(500 * MiB);
    expect(first.decision.nextPollMs).toBe(
      Math.floor(((0.7 * LIMIT - START) / (500 * MiB)) * 1000),
    );
  });

  it('a burst starting anywhere in the interval is seen within 300 ms of 70%; tier 3 before the limit', () => {
    const runs = phasesOf(DEFAULT_POLICY).map((phase) => simulate(DEFAULT_POLICY, 500, phase));
    const worstReactionMs = Math.max(...runs.map((r) => r.reactionMs));
    const latestTier3Ms = Math.max(...runs.map((r) => r.tier3BeforeLimitMs));
    expect(worstReactionMs).toBeLessThanOrEqual(300);
    expect(latestTier3Ms).toBeLessThan(0);
  });

  it('a sample 5 ms after an action keeps the measured growth: still urgent, tier 3 before the limit', () => {
    // Memory that grows in 50 ms steps (the synthetic agent's tick) looks still over 5 ms: growth
    // measured over that span dropped the burst at 89% to the 1 s fast poll and the kernel won.
    // The growth span keeps the rate measured before the action.
    const live = { actionMs: 5, stepMs: 50 };
    const runs = phasesOf(DEFAULT_POLICY).map((phase) =>
      simulate(DEFAULT_POLICY, 500, phase, live),
    );
    expect(Math.max(...runs.map((r) => r.tier3BeforeLimitMs))).toBeLessThan(0);
  });

  it('200 MiB/s is still met (within 1 s, tier 3 before the limit)', () => {
    const runs = phasesOf(DEFAULT_POLICY).map((phase) => simulate(DEFAULT_POLICY, 200, phase));
    expect(Math.max(...runs.map((r) => r.reactionMs))).toBeLessThanOrEqual(1_000);
    expect(Math.max(...runs.map((r) => r.tier3BeforeLimitMs))).toBeLessThan(0);
  });

  it('sized for 200 MiB/s (the previous default), a burst just after a poll is seen ~1.8 s late', () => {
    const config = { ...DEFAULT_POLICY, assumedGrowthBytesPerSec: 200 * MiB };
    const runs = phasesOf(config).map((phase) => simulate(config, 500, phase));
    expect(Math.max(...runs.map((r) => r.reactionMs))).toBeGreaterThan(1_500);
  });
});
