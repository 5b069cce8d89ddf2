// Relaunch step-down (docs/DESIGN.md, "Relaunch step-down"), as pure functions and machines on a
// simulated clock: the governor keeps the times of its tier 3s and hands the earlier ones to each
// tier-3 request; the lifecycle machine turns them into resume, fresh, or giving up (exit 4).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition, type Snapshot } from 'xstate';
import {
  agentLifecycleMachine,
  relaunchBudgetSpent,
  type LifecycleEvent,
} from '../machines/agent-lifecycle.machine.ts';
import { DEFAULT_POLICY } from '../machines/config.ts';
import { createGovernorMachine, type ActionRequest } from '../machines/governor.machine.ts';
import {
  DEFAULT_RELAUNCH_WINDOW_MS,
  relaunchStep,
  rememberTier3,
  tier3HistoryOf,
} from '../machines/relaunch.ts';
import { SNAPSHOTS_DIR } from './fixtures/snapshots/generate.ts';
import { at } from './support/governor.ts';

const WINDOW_MS = DEFAULT_RELAUNCH_WINDOW_MS;
const MINUTE_MS = 60_000;

describe('relaunchStep', () => {
  it('resumes after no recent tier 3, starts fresh after one, gives up after two', () => {
    const t = 10 * WINDOW_MS;
    expect(relaunchStep([], t, WINDOW_MS)).toBe('resume');
    expect(relaunchStep([t - MINUTE_MS], t, WINDOW_MS)).toBe('fresh');
    expect(relaunchStep([t - 2 * MINUTE_MS, t - MINUTE_MS], t, WINDOW_MS)).toBe('give-up');
  });

  it('counts only the tier 3s within the window: one exactly a window old has left it', () => {
    const t = 10 * WINDOW_MS;
    expect(relaunchStep([t - WINDOW_MS], t, WINDOW_MS)).toBe('resume');
    expect(relaunchStep([t - WINDOW_MS + 1], t, WINDOW_MS)).toBe('fresh');
    expect(relaunchStep([t - WINDOW_MS - 1, t - MINUTE_MS], t, WINDOW_MS)).toBe('fresh');
  });

  it('a window of 0 turns the step-down off; a tier 3 after this one (clock stepped back) counts', () => {
    expect(relaunchStep([1_000, 2_000], 3_000, 0)).toBe('resume');
    expect(relaunchStep([5_000], 3_000, WINDOW_MS)).toBe('fresh');
  });

  it('rememberTier3 keeps the newest three, oldest first', () => {
    expect(rememberTier3([1, 2, 3], 4)).toEqual([2, 3, 4]);
    expect(rememberTier3([], 7)).toEqual([7]);
  });

  it('tier3HistoryOf falls back to the archive-terminate records of an older snapshot', () => {
    const actions = [
      { action: 'compact', atMs: 1 },
      { action: 'archive-terminate', atMs: 2 },
      { action: 'stop-tool', atMs: 3 },
      { action: 'archive-terminate', atMs: 4 },
    ];
    expect(tier3HistoryOf({ actions })).toEqual([2, 4]);
    expect(tier3HistoryOf({ actions, tier3AtMs: [9] })).toEqual([9]);
  });
});

/** A governor that records each tier-3 request; the agent climbs straight back after each start. */
function governor(snapshot?: unknown) {
  const machine = createGovernorMachine(DEFAULT_POLICY);
  const actor = createActor(
    machine,
    snapshot === undefined ? {} : { snapshot: snapshot as Snapshot<unknown> },
  );
  const tier3s: ActionRequest[] = [];
  actor.on('action.requested', (r: ActionRequest) => {
    if (r.action === 'archive-terminate') tier3s.push(r);
  });
  actor.start();
  let pid = 100;
  /** The relaunched agent starts (re-arming tier 3) and is at 95% at once. */
  const relaunchAndClimb = (tMs: number): void => {
    pid += 1;
    actor.send({ type: 'AGENT.STARTED', pid, startTicks: pid * 10, atMs: tMs });
    actor.send({ type: 'SAMPLE', sample: at(tMs + 100, 0.95) });
  };
  return { actor, tier3s, relaunchAndClimb };
}

describe('the governor keeps its tier-3 times', () => {
  it('each tier-3 request names the tier 3s before it; the context keeps the newest three', () => {
    const g = governor();
    g.actor.send({ type: 'SAMPLE', sample: at(1_000, 0.95) }); // compact first
    g.actor.send({ type: 'SAMPLE', sample: at(1_100, 0.95) }); // tier 3
    g.relaunchAndClimb(2_000);
    g.relaunchAndClimb(3_000);
    g.relaunchAndClimb(4_000);
    expect(g.tier3s.map((r) => [r.atMs, r.earlierTier3AtMs])).toEqual([
      [1_100, []],
      [2_100, [1_100]],
      [3_100, [1_100, 2_100]],
      [4_100, [2_100, 3_100]],
    ]);
    expect(g.actor.getSnapshot().context.tier3AtMs).toEqual([2_100, 3_100, 4_100]);
  });

  it('a stop-tool in the place of tier 3 is not a tier 3 of the agent', () => {
    const g = governor();
    const tool = { pid: 7, pgid: 7, startTicks: 70, bytes: 0.9 * 1e9, command: 'node' };
    g.actor.send({ type: 'SAMPLE', sample: at(1_000, 0.95) });
    g.actor.send({ type: 'SAMPLE', sample: { ...at(1_100, 0.95), tool } });
    expect(g.tier3s).toEqual([]);
    expect(g.actor.getSnapshot().context.tier3AtMs).toBeUndefined();
  });

  it('a snapshot from before the history (legacy golden) counts its dispatched tier 3', () => {
    const legacy: unknown = JSON.parse(
      readFileSync(join(SNAPSHOTS_DIR, 'legacy/tier3-disarmed-before-tier3-history.json'), 'utf8'),
    );
    const g = governor(legacy);
    expect(g.actor.getSnapshot().context.tier3AtMs).toBeUndefined();
    g.relaunchAndClimb(1_020_000);
    expect(g.tier3s.map((r) => r.earlierTier3AtMs)).toEqual([[1_010_000]]);
    expect(g.actor.getSnapshot().context.tier3AtMs).toEqual([1_010_000, 1_020_100]);
  });
});

const POLICY = {
  backoffMs: 1_000,
  maxBackoffMs: 8_000,
  healthyAfterMs: 60_000,
  relaunchWindowMs: WINDOW_MS,
} as const;

type LifecycleSnapshot = ReturnType<typeof initialTransition<typeof agentLifecycleMachine>>[0];

/** One run that tier 3 stops at atMs (after the tier 3s at `earlier`), up to its exit. */
function tier3Run(pid: number, atMs: number, earlier: readonly number[]): LifecycleEvent[] {
  return [
    { type: 'STARTED', run: { pid, startedAtMs: atMs - 500 } },
    { type: 'EXIT_EXPECTED', atMs, earlierTier3AtMs: earlier, archiveDir: `/a/${atMs}-tier3` },
    { type: 'EXITED', code: 143, signal: null, ranMs: 500 },
  ];
}

function drive(events: readonly LifecycleEvent[]): LifecycleSnapshot[] {
  let snapshot = initialTransition(agentLifecycleMachine, POLICY)[0];
  return events.map((event) => (snapshot = transition(agentLifecycleMachine, snapshot, event)[0]));
}

describe('the lifecycle steps down: resume -> fresh -> exit 4', () => {
  it('the second tier 3 in the window relaunches fresh, the third ends memgov', () => {
    const t0 = 5 * WINDOW_MS;
    const [a, b, c] = [t0, t0 + 2 * MINUTE_MS, t0 + 4 * MINUTE_MS];
    const trace = drive([
      ...tier3Run(1, a, []),
      { type: 'BACKOFF_DONE' },
      ...tier3Run(2, b, [a]),
      { type: 'BACKOFF_DONE' },
      ...tier3Run(3, c, [a, b]),
    ]);
    const exits = trace.filter((_, i) => i % 4 === 2);
    expect(exits.map((s) => [s.value, s.context.step])).toEqual([
      ['backoff', 'resume'],
      ['backoff', 'fresh'],
      ['finished', 'give-up'],
    ]);
    expect(exits.map((s) => relaunchBudgetSpent(s))).toEqual([false, false, true]);
    expect(trace.at(-1)?.context.archivesKept).toEqual([
      `/a/${a}-tier3`,
      `/a/${b}-tier3`,
      `/a/${c}-tier3`,
    ]);
  });

  it('a tier 3 after the window passed resumes again; a kernel kill after a fresh one resumes', () => {
    const t0 = 5 * WINDOW_MS;
    const late = t0 + WINDOW_MS + MINUTE_MS;
    const trace = drive([
      ...tier3Run(1, late, [t0]),
      { type: 'BACKOFF_DONE' },
      ...tier3Run(2, late + MINUTE_MS, [t0, late]),
      { type: 'BACKOFF_DONE' },
      { type: 'STARTED', run: { pid: 3, startedAtMs: late + 2 * MINUTE_MS } },
      { type: 'EXITED', code: null, signal: 'SIGKILL', ranMs: 100 },
    ]);
    expect(trace[2]?.context.step).toBe('resume');
    expect(trace[6]?.context.step).toBe('fresh');
    expect([trace.at(-1)?.value, trace.at(-1)?.context.step]).toEqual(['backoff', 'resume']);
  });

  it('tier 3 announced while the run was still starting keeps its step for that run', () => {
    const trace = drive([
      { type: 'EXIT_EXPECTED', atMs: 2_000, earlierTier3AtMs: [1_000], archiveDir: null },
      { type: 'STARTED', run: { pid: 1, startedAtMs: 1_900 } },
      { type: 'EXITED', code: 143, signal: null, ranMs: 100 },
    ]);
    expect(trace.map((s) => [s.value, s.context.step])).toEqual([
      ['starting', 'fresh'],
      ['expectingExit', 'fresh'],
      ['backoff', 'fresh'],
    ]);
  });
});
