// Urgent polling shortened by the measured growth (docs/DESIGN.md, "The policy"): the governor
// samples just past each threshold, no faster than URGENT_FLOOR_MS.
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import { URGENT_FLOOR_MS, urgentDelayMs } from '../../machines/policy.ts';

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
