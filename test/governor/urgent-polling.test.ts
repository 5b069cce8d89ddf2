// Urgent polling shortened by the measured growth (docs/DESIGN.md, "The policy"): the governor
// samples just past each threshold, no faster than URGENT_FLOOR_MS.
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import {
  choosePolling,
  INITIAL_FACTS,
  URGENT_FLOOR_MS,
  urgentDelayMs,
} from '../../machines/policy.ts';

const MiB = 1024 * 1024;

describe('urgentDelayMs', () => {
  it('is the time to the next threshold, between the floor and urgentPollMs', () => {
    const rate = 500 * MiB;
    expect(urgentDelayMs(500 * MiB, rate, DEFAULT_POLICY)).toBe(DEFAULT_POLICY.urgentPollMs);
    expect(urgentDelayMs(50 * MiB, rate, DEFAULT_POLICY)).toBe(100);
    expect(urgentDelayMs(1 * MiB, rate, DEFAULT_POLICY)).toBe(URGENT_FLOOR_MS);
    expect(urgentDelayMs(0, rate, DEFAULT_POLICY)).toBe(URGENT_FLOOR_MS);
  });

  it('an urgentPollMs configured below the floor is kept', () => {
    expect(urgentDelayMs(1 * MiB, 500 * MiB, { ...DEFAULT_POLICY, urgentPollMs: 20 })).toBe(20);
  });
});

describe('choosePolling while a burst climbs', () => {
  const limit = 1024 * MiB;
  const at = (ratio: number) => ({ ratio, usedBytes: ratio * limit });
  const poll = (ratio: number, growthBytesPerSec: number) =>
    choosePolling(
      INITIAL_FACTS,
      0,
      ratio,
      at(ratio).usedBytes,
      limit,
      growthBytesPerSec,
      DEFAULT_POLICY,
    );

  it('measured 246 MiB/s at 41% (a 500 MiB/s burst begun mid-interval): next sample when 500 MiB/s reaches 70%', () => {
    const next = poll(0.409, 246 * MiB);
    expect(next.speed).toBe('relaxed');
    expect(next.nextPollMs).toBe(Math.floor((((0.7 - 0.409) * limit) / (500 * MiB)) * 1000));
  });

  it('slow growth (below a fifth of assumedGrowthBytesPerSec) keeps the minPollMs floor', () => {
    expect(poll(0.409, 50 * MiB).nextPollMs).toBe(DEFAULT_POLICY.minPollMs);
    expect(poll(0.409, 0).nextPollMs).toBe(DEFAULT_POLICY.minPollMs);
  });

  it('never below urgentPollMs outside urgent', () => {
    expect(poll(0.69, 150 * MiB).nextPollMs).toBe(DEFAULT_POLICY.urgentPollMs);
  });
});
