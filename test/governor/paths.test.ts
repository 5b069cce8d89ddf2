// Paths from the model (xstate/graph): every state of every region is reachable with concrete
// SAMPLE events, and no path reaches tier 3 without a compact first. The guards read the
// sample's payload and time, so the events are built from the snapshot they leave: each one
// carries t = the previous sample's t + its step + 1 ms, which keeps t increasing along every
// path and makes t % 1000 the number of samples so far (the traversal's depth bound).
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { getShortestPaths, getSimplePaths, type StatePath } from 'xstate/graph';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import {
  createGovernorMachine,
  stateString,
  type GovernorEvent,
  type GovernorMachine,
} from '../../machines/governor.machine.ts';
import type { Action } from '../../machines/policy.ts';

const machine = createGovernorMachine(DEFAULT_POLICY);
type GovernorSnapshot = ReturnType<GovernorMachine['transition']>;
type GovernorPath = StatePath<GovernorSnapshot, GovernorEvent>;

const T0_MS = 1_000_000;
const LIMIT_BYTES = 1_000_000_000; // ratios such as 0.72 are exact: 720_000_000 / 1e9 === 0.72
const PAGE_CACHE_BYTES = 64 * 1024 * 1024; // reclaimable: must not count towards the ratio
const QUICK_STEP_MS = 10_000;
const MAX_SIMPLE_PATH_SAMPLES = 4;

/** The alphabet: four levels a quick step apart, and a calm sample after a whole compact window. */
const MOVES: readonly { readonly ratio: number; readonly stepMs: number }[] = [
  { ratio: 0.5, stepMs: QUICK_STEP_MS },
  { ratio: 0.72, stepMs: QUICK_STEP_MS },
  { ratio: 0.86, stepMs: QUICK_STEP_MS },
  { ratio: 0.95, stepMs: QUICK_STEP_MS },
  { ratio: 0.5, stepMs: DEFAULT_POLICY.compactWindowMs },
];

function samplesSoFar(snapshot: GovernorSnapshot): number {
  const decision = snapshot.context.decision;
  return decision === null ? 0 : (decision.t - T0_MS) % 1000;
}

function eventsFrom(snapshot: GovernorSnapshot): GovernorEvent[] {
  const previousMs = snapshot.context.decision?.t ?? T0_MS;
  return MOVES.map(({ ratio, stepMs }) => ({
    type: 'SAMPLE',
    sample: {
      t: previousMs + stepMs + 1,
      current: Math.round(ratio * LIMIT_BYTES) + PAGE_CACHE_BYTES,
      inactiveFile: PAGE_CACHE_BYTES,
      limit: LIMIT_BYTES,
    },
  }));
}

function traversal(maxSamples: number, toState?: (snapshot: GovernorSnapshot) => boolean) {
  return {
    events: eventsFrom,
    stopWhen: (snapshot: GovernorSnapshot) =>
      samplesSoFar(snapshot) >= maxSamples || (toState?.(snapshot) ?? false),
    ...(toState === undefined ? {} : { toState }),
  };
}

/** The SAMPLE events of a path (graph paths start with a synthetic xstate.init step). */
type SampleEvent = Extract<GovernorEvent, { type: 'SAMPLE' }>;

function eventsOf(path: GovernorPath): SampleEvent[] {
  return path.steps.flatMap((step) => (step.event.type === 'SAMPLE' ? [step.event] : []));
}

/** "0.72@+10s" per sample: the level and the gap since the previous sample. */
function describePath(path: GovernorPath): string[] {
  let previousMs = T0_MS;
  return eventsOf(path).map(({ sample }) => {
    const label = `${(sample.current - sample.inactiveFile) / sample.limit}@+${Math.floor((sample.t - previousMs) / 1000)}s`;
    previousMs = sample.t;
    return label;
  });
}

/** The action decided at each sample along the path. */
function actionsOf(path: GovernorPath): (Action | null)[] {
  return path.steps
    .filter((step) => step.event.type === 'SAMPLE')
    .map((step) => step.state.context.decision?.action ?? null);
}

/** All the paths of least length (up to 4 samples) into a state the predicate accepts. */
function shortestTo(predicate: (snapshot: GovernorSnapshot) => boolean): GovernorPath[] {
  const paths = getShortestPaths(machine, traversal(4, predicate));
  const leastWeight = Math.min(...paths.map((path) => path.weight));
  return paths.filter((path) => path.weight === leastWeight);
}

/** Replays a path's events through a real actor: the path is a real run, not a graph artefact. */
function replay(path: GovernorPath): string {
  const actor = createActor(machine).start();
  for (const event of eventsOf(path)) actor.send(event);
  const value = stateString(actor.getSnapshot().value);
  actor.stop();
  return value;
}

const REGION_STATES = [
  ['ladder', 'idle'],
  ['ladder', 'compacted'],
  ['ladder', 'cleared'],
  ['tier3', 'armed'],
  ['tier3', 'disarmed'],
  ['polling', 'relaxed'],
  ['polling', 'fast'],
  ['polling', 'urgent'],
] as const;

describe('governor paths (xstate/graph, concrete SAMPLE events)', () => {
  it.each(REGION_STATES)(
    '%s.%s is reachable, and a real actor replaying the shortest path ends there',
    (region, state) => {
      const [path] = shortestTo((snapshot) => snapshot.matches({ [region]: state }));
      if (path === undefined) throw new Error(`no path reaches ${region}.${state}`);
      expect(path.state.matches({ [region]: state })).toBe(true);
      expect(replay(path)).toBe(stateString(path.state.value));
    },
  );

  it('the shortest paths are the ladder climbed rung by rung', () => {
    const cases = {
      compacted: shortestTo((s) => s.matches({ ladder: 'compacted' })),
      cleared: shortestTo((s) => s.matches({ ladder: 'cleared' })),
      idleAgain: shortestTo(
        (s) => s.matches({ ladder: 'idle' }) && s.context.facts.lastCompact !== null,
      ),
      disarmed: shortestTo((s) => s.matches({ tier3: 'disarmed' })),
      urgent: shortestTo((s) => s.matches({ polling: 'urgent' })),
    };
    const traces = Object.fromEntries(
      Object.entries(cases).map(([name, paths]) => [
        name,
        paths
          .map((path) => ({ samples: describePath(path), actions: actionsOf(path) }))
          .sort((a, b) => a.samples.join().localeCompare(b.samples.join())),
      ]),
    );
    expect(traces).toEqual({
      // Any first sample at or above compactAt compacts.
      compacted: [
        { samples: ['0.72@+10s'], actions: ['compact'] },
        { samples: ['0.86@+10s'], actions: ['compact'] },
        { samples: ['0.95@+10s'], actions: ['compact'] },
      ],
      // A clear needs a compact below the clear level first: 86% then 95% would be tier 3.
      cleared: [{ samples: ['0.72@+10s', '0.86@+10s'], actions: ['compact', 'clear'] }],
      // The window passes with no sample in it: the ladder goes back to idle.
      idleAgain: [
        { samples: ['0.72@+10s', '0.5@+300s'], actions: ['compact', null] },
        { samples: ['0.86@+10s', '0.5@+300s'], actions: ['compact', null] },
        { samples: ['0.95@+10s', '0.5@+300s'], actions: ['compact', null] },
      ],
      // Never straight to tier 3: a compact, then archive-terminate on the next sample.
      disarmed: [
        { samples: ['0.72@+10s', '0.95@+10s'], actions: ['compact', 'archive-terminate'] },
        { samples: ['0.86@+10s', '0.95@+10s'], actions: ['compact', 'archive-terminate'] },
        { samples: ['0.95@+10s', '0.95@+10s'], actions: ['compact', 'archive-terminate'] },
      ],
      // 50% to 95% in 10 s projects the limit within two 1 s intervals.
      urgent: [
        { samples: ['0.5@+10s', '0.95@+10s'], actions: [null, 'compact'] },
        { samples: ['0.5@+300s', '0.95@+10s'], actions: [null, 'compact'] },
      ],
    });
  });

  it('every simple path (up to 4 samples) into ladder.cleared or tier3.disarmed compacts first, and escalates within compactWindowMs of that compact', () => {
    const escalated = (snapshot: GovernorSnapshot) =>
      snapshot.matches({ ladder: 'cleared' }) || snapshot.matches({ tier3: 'disarmed' });
    const paths = getSimplePaths(machine, traversal(MAX_SIMPLE_PATH_SAMPLES, escalated));
    const offending = paths.flatMap((path) => {
      const acted = path.steps.flatMap((step) => {
        const decision = step.state.context.decision;
        return step.event.type === 'SAMPLE' && decision?.action != null ? [decision] : [];
      });
      const escalation = acted.at(-1);
      const compact = acted.findLast((decision) => decision.action === 'compact');
      const ok =
        acted[0]?.action === 'compact' &&
        escalation !== undefined &&
        compact !== undefined &&
        escalation.action !== 'compact' &&
        escalation.t - compact.t < DEFAULT_POLICY.compactWindowMs;
      return ok ? [] : [{ samples: describePath(path), actions: actionsOf(path) }];
    });
    // 96 routes on this alphabet today, 76 of them into tier 3: the check is not vacuous.
    expect(paths.length).toBeGreaterThan(50);
    expect(
      paths.filter((path) => path.state.matches({ tier3: 'disarmed' })).length,
    ).toBeGreaterThan(40);
    expect(offending).toEqual([]);
  });
});
