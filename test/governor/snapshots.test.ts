// Golden persisted snapshots (test/fixtures/snapshots/*.json, written by generate.ts there):
// each restores where it should, the ladder facts survive the restore (the compact window, the
// clear, tier 3's arming), and the files on disk are what the generator writes today.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActor, type Snapshot } from 'xstate';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import {
  createGovernorMachine,
  stateString,
  type ActionRequest,
  type GovernorContext,
} from '../../machines/governor.machine.ts';
import type { Action, Sample } from '../../machines/policy.ts';
import {
  goldenFilesOnDisk,
  GOLDEN_SAMPLES,
  renderGoldens,
  SNAPSHOTS_DIR,
} from '../fixtures/snapshots/generate.ts';

const machine = createGovernorMachine(DEFAULT_POLICY);

const COMPACT_AT_MS = 1_000_000;
const MINUTE_MS = 60_000;
const LIMIT_BYTES = 1_000_000_000;

/** A sample at `ratio` of a 10^9-byte limit (exact for two-decimal ratios), 30 MB page cache. */
function at(t: number, ratio: number): Sample {
  const pageCacheBytes = 30_000_000;
  return {
    t,
    current: Math.round(ratio * LIMIT_BYTES) + pageCacheBytes,
    inactiveFile: pageCacheBytes,
    limit: LIMIT_BYTES,
  };
}

interface PersistedGovernor {
  readonly status: string;
  readonly value: unknown;
  readonly context: GovernorContext;
}

function readGolden(name: string): PersistedGovernor {
  return JSON.parse(readFileSync(join(SNAPSHOTS_DIR, name), 'utf8')) as PersistedGovernor;
}

/** Restores a golden into a live actor that records what it emits. */
function restore(name: string) {
  const actor = createActor(machine, {
    snapshot: readGolden(name) as unknown as Snapshot<unknown>,
  });
  const emitted: ActionRequest[] = [];
  actor.on('action.requested', (request) => emitted.push(request));
  actor.start();
  /** Sends samples; returns per sample the action emitted (null if none) and the state after. */
  const feed = (samples: readonly Sample[]): { action: Action | null; state: string }[] =>
    samples.map((sample) => {
      const before = emitted.length;
      actor.send({ type: 'SAMPLE', sample });
      const after = emitted.slice(before);
      expect(after.length).toBeLessThanOrEqual(1);
      return { action: after[0]?.action ?? null, state: stateString(actor.getSnapshot().value) };
    });
  return { actor, emitted, feed };
}

const EXPECTED_STATES: Readonly<Record<string, string>> = {
  'compacted-at-72.json': 'ladder.compacted,tier3.armed,polling.relaxed',
  'cleared.json': 'ladder.cleared,tier3.armed,polling.fast',
  'tier3-disarmed.json': 'ladder.compacted,tier3.disarmed,polling.fast',
  'fast-polling.json': 'ladder.compacted,tier3.armed,polling.fast',
};

describe('golden persisted snapshots', () => {
  it('the golden files on disk are exactly what generate.ts writes today', () => {
    const generated = renderGoldens();
    expect(goldenFilesOnDisk()).toEqual(Object.keys(generated).sort());
    for (const [name, text] of Object.entries(generated)) {
      expect(
        readFileSync(join(SNAPSHOTS_DIR, name), 'utf8'),
        `test/fixtures/snapshots/${name} differs from what the generator writes now: the persisted ` +
          'shape or a decision changed. Rerun `npx tsx test/fixtures/snapshots/generate.ts`, ' +
          'review the diff (old snapshots in the field must still restore), and commit it.',
      ).toBe(text);
    }
  });

  it.each(Object.entries(EXPECTED_STATES))(
    '%s holds %s and restores into the same state value and context, emitting nothing',
    (name, expectedState) => {
      const golden = readGolden(name);
      expect(golden.status).toBe('active');
      expect(stateString(golden.value)).toBe(expectedState);
      const { actor, emitted } = restore(name);
      const restored = actor.getSnapshot();
      expect(restored.status).toBe('active');
      expect(restored.value).toEqual(golden.value);
      expect(restored.context).toEqual(golden.context);
      // Restoring is not a transition: no action is requested again.
      expect(emitted).toEqual([]);
      actor.stop();
    },
  );

  it('compacted-at-72 records the compact decided at t=1,000,000 at 72%, as the generator describes', () => {
    const { context } = readGolden('compacted-at-72.json');
    expect(context.facts.lastCompact).toEqual({ atMs: COMPACT_AT_MS, ratio: 0.72 });
    expect(context.decision).toMatchObject({ t: COMPACT_AT_MS, action: 'compact', nextPollMs: 0 });
    expect(context.actionSeq).toBe(1);
    expect(GOLDEN_SAMPLES['compacted-at-72.json']?.at(-1)?.t).toBe(COMPACT_AT_MS);
  });

  it('a snapshot from before the growth span (no growth at its reference sample) decides the same', () => {
    const samples = [
      at(COMPACT_AT_MS + 10, 0.74),
      at(COMPACT_AT_MS + 3 * MINUTE_MS, 0.75),
      at(COMPACT_AT_MS + 6 * MINUTE_MS, 0.76),
    ];
    const legacy = restore('legacy/compacted-at-72-before-growth-span.json');
    expect(legacy.actor.getSnapshot().context.facts.previous).not.toHaveProperty(
      'growthBytesPerSec',
    );
    expect(legacy.feed(samples)).toEqual(restore('compacted-at-72.json').feed(samples));
  });

  it('restored compacted-at-72: 3 minutes into the window 75% does not compact again', () => {
    const { feed } = restore('compacted-at-72.json');
    expect(feed([at(COMPACT_AT_MS + 3 * MINUTE_MS, 0.75)])).toEqual([
      { action: null, state: 'ladder.compacted,tier3.armed,polling.relaxed' },
    ]);
  });

  it('restored compacted-at-72: 6 minutes in (window passed) 75% compacts again, with the next sequence number', () => {
    const { feed, emitted } = restore('compacted-at-72.json');
    expect(feed([at(COMPACT_AT_MS + 6 * MINUTE_MS, 0.75)])).toEqual([
      { action: 'compact', state: 'ladder.compacted,tier3.armed,polling.relaxed' },
    ]);
    expect(emitted).toEqual([
      {
        type: 'action.requested',
        seq: 2,
        action: 'compact',
        atMs: COMPACT_AT_MS + 6 * MINUTE_MS,
        ratio: 0.75,
        usedBytes: 0.75 * LIMIT_BYTES,
        limitBytes: LIMIT_BYTES,
      },
    ]);
  });

  it('restored compacted-at-72: 87% inside the window, above the 72% compact, clears', () => {
    const { feed } = restore('compacted-at-72.json');
    expect(feed([at(COMPACT_AT_MS + MINUTE_MS, 0.87)])).toEqual([
      { action: 'clear', state: 'ladder.cleared,tier3.armed,polling.fast' },
    ]);
  });

  it('restored cleared: no second clear in the window, tier 3 is what is left', () => {
    const { feed } = restore('cleared.json');
    expect(
      feed([at(COMPACT_AT_MS + 31_000, 0.89), at(COMPACT_AT_MS + 32_000, 0.9)]).map(
        (s) => s.action,
      ),
    ).toEqual([null, 'archive-terminate']);
  });

  it('restored tier3-disarmed: no tier 3 at 95% until a ratio below compactAt is seen, then tier 3 again in a new window', () => {
    const { feed } = restore('tier3-disarmed.json');
    const newWindowMs = COMPACT_AT_MS + 7 * MINUTE_MS;
    expect(
      feed([
        at(COMPACT_AT_MS + 20_000, 0.95), // same window, disarmed: tier 2 still holds
        at(COMPACT_AT_MS + 21_000, 0.95), // cleared, disarmed: nothing left
        at(newWindowMs, 0.95), // the window passed: the ladder starts again with a compact
        at(newWindowMs + 1_000, 0.95), // new window, still disarmed: nothing
        at(newWindowMs + 2_000, 0.7), // at compactAt, not below it: still disarmed
        at(newWindowMs + 3_000, 0.69), // below compactAt: the agent restarted, re-arms
        at(newWindowMs + 4_000, 0.95), // inside the new window: tier 3 again (26 pp in 1 s: urgent)
      ]),
    ).toEqual([
      { action: 'clear', state: 'ladder.cleared,tier3.disarmed,polling.fast' },
      { action: null, state: 'ladder.cleared,tier3.disarmed,polling.fast' },
      { action: 'compact', state: 'ladder.compacted,tier3.disarmed,polling.fast' },
      { action: null, state: 'ladder.compacted,tier3.disarmed,polling.fast' },
      { action: null, state: 'ladder.compacted,tier3.disarmed,polling.relaxed' },
      { action: null, state: 'ladder.compacted,tier3.armed,polling.relaxed' },
      { action: 'archive-terminate', state: 'ladder.compacted,tier3.disarmed,polling.urgent' },
    ]);
  });

  it('restored fast-polling: keeps polling fast and states the next deadline kept in context', () => {
    const golden = readGolden('fast-polling.json');
    expect(golden.context.decision).toMatchObject({ action: null, speed: 'fast' });
    const deadlineMs = golden.context.decision?.nextSampleAtMs ?? Number.NaN;
    expect(deadlineMs - COMPACT_AT_MS - 15_000).toBeLessThanOrEqual(DEFAULT_POLICY.fastPollMs);
    const { actor, feed } = restore('fast-polling.json');
    expect(feed([at(deadlineMs, 0.83)])).toEqual([
      { action: null, state: 'ladder.compacted,tier3.armed,polling.fast' },
    ]);
    expect(actor.getSnapshot().context.decision?.nextPollMs).toBeLessThanOrEqual(
      DEFAULT_POLICY.fastPollMs,
    );
  });
});
