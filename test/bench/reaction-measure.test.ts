// The reaction benches' measurement (bench/reaction-measure.ts) on a recorded series, so the
// bench scripts cannot silently rot: crossing interpolation, growth rate, decision parsing.
import { describe, expect, it } from 'vitest';
import {
  MiB,
  compactBy,
  crossingOf,
  memgovDecision,
  reactionMs,
  seedDecision,
  type WorkingSet,
} from '../../bench/reaction-measure.ts';

const LIMIT = 1024 * MiB;
// 200 MiB/s polled every 10 ms: 2 MiB a reading, from 700 MiB at t=1000.
const series: WorkingSet[] = Array.from({ length: 101 }, (_, i) => {
  const usedBytes = (700 + 2 * i) * MiB;
  return { atMs: 1_000 + 10 * i, usedBytes, limitBytes: LIMIT, ratio: usedBytes / LIMIT };
});

describe('the reaction benches measurement', () => {
  it('places the 70% crossing between the last reading below and the first above', () => {
    // 0.70 of 1 GiB = 716.8 MiB: reading 8 (716 MiB) below, 9 (718 MiB) above, 0.4 of the way.
    const upTo = (n: number): WorkingSet[] => series.slice(0, n + 1);
    expect(crossingOf(upTo(8), 0.7)).toBeNull();
    const crossing = crossingOf(upTo(9), 0.7);
    expect(crossing?.atMs).toBeCloseTo(1_084, 6);
    expect(crossing?.bracketMs).toBe(10);
    expect(crossing?.measuredMiBPerSec).toBeCloseTo(200, 6);
  });

  it('measures the growth over the second before the crossing', () => {
    const crossing = crossingOf(series, 0.8); // the last reading, 900 MiB
    expect(crossing?.measuredMiBPerSec).toBeCloseTo(200, 6);
    expect(crossingOf(series.slice(0, 1), 0.5)).toEqual({
      atMs: 1_000,
      bracketMs: 0,
      measuredMiBPerSec: 0,
    });
  });

  it('reads the compact decision of memgov and of the seed loop, and the reaction from it', () => {
    const memgov =
      '{"message":"decision","t":1500,"ratio":0.71,"action":"compact","nextPollMs":250,"speed":"fast"}';
    const seed = 't_ms=61084 ratio=0.912345 action=compact next_s=15';
    const crossing = { atMs: 1_084, bracketMs: 10, measuredMiBPerSec: 200 };
    const fromMemgov = compactBy(memgovDecision)(memgov);
    const fromSeed = compactBy(seedDecision)(seed);
    expect(fromMemgov && reactionMs(fromMemgov, crossing)).toBe(416);
    expect(fromSeed && reactionMs(fromSeed, crossing)).toBe(60_000);
    expect(fromSeed).toMatchObject({ ratio: 0.912345, nextPollMs: 15_000, speed: 'fast' });
    expect(compactBy(seedDecision)('t_ms=1 ratio=0.5 action=none next_s=60')).toBeNull();
    expect(memgovDecision('{"message":"sample","t":1}')).toBeNull();
    expect(memgovDecision('not json')).toBeNull();
  });
});
