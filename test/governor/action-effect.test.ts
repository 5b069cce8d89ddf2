// The memory after an action (its "effect") comes from the first sample after it finished, for
// every rung: also when the next rung was dispatched while it still ran, as the real claude
// made happen by growing from 71% to 89% during its own compaction.
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../machines/policy.ts';
import {
  appendDispatched,
  applyAfter,
  applyResult,
  type ActionRecord,
} from '../../machines/records.ts';

const MIB = 1024 * 1024;

function decisionAt(t: number, usedMiB: number): Decision {
  return {
    ...{ t, ratio: usedMiB / 520, usedBytes: usedMiB * MIB, limitBytes: 520 * MIB },
    ...{ action: null, reason: 'below-threshold', speed: 'relaxed', nextPollMs: 1_000 },
    ...{ nextSampleAtMs: t + 1_000, growthBytesPerSec: 0 },
  };
}

function dispatched(records: readonly ActionRecord[], seq: number, t: number, usedMiB: number) {
  const action = seq === 1 ? 'compact' : 'clear';
  const base = { seq, action, atMs: t, ratio: usedMiB / 520 } as const;
  return appendDispatched(records, { ...base, usedBytes: usedMiB * MIB, limitBytes: 520 * MIB });
}

const finished = (records: readonly ActionRecord[], seq: number, t: number) =>
  applyResult(records, { seq, outcome: 'ok', durationMs: 10, finishedAtMs: t });

const after = (records: readonly ActionRecord[]) => records.map((r) => r.usedBytesAfter);

describe('the memory after each action', () => {
  it('a compact that finishes while the clear queued behind it waits is measured', () => {
    let records = dispatched([], 1, 1_000, 368);
    records = dispatched(records, 2, 6_000, 463);
    records = finished(records, 1, 11_000);
    records = applyAfter(records, decisionAt(11_100, 420));
    expect(after(records)).toEqual([420 * MIB, null]);
    records = finished(records, 2, 11_700);
    records = applyAfter(records, decisionAt(11_800, 232));
    expect(after(records)).toEqual([420 * MIB, 232 * MIB]);
  });

  it('a sample before an action finished is not its "after"', () => {
    const records = finished(dispatched([], 1, 1_000, 368), 1, 5_000);
    expect(after(applyAfter(records, decisionAt(4_900, 400)))).toEqual([null]);
  });

  it('an older record left unmeasured stays so: a late sample is no "after"', () => {
    let records = finished(dispatched([], 1, 1_000, 368), 1, 2_000);
    records = finished(dispatched(records, 2, 2_000, 463), 2, 3_000);
    // As earlier versions left it: the clear measured, the compact before it not.
    records = records.map((r) => (r.seq === 2 ? { ...r, usedBytesAfter: 232 * MIB } : r));
    expect(after(applyAfter(records, decisionAt(90_000, 300)))).toEqual([null, 232 * MIB]);
  });
});
