// OTP restart intensity: at most `intensity` restarts within any `periodMs`.
import { describe, expect, it } from 'vitest';
import { chargeRestart } from '../../machines/restart-budget.ts';

const budget = { intensity: 3, periodMs: 10_000 };

describe('chargeRestart', () => {
  it('allows up to intensity restarts inside one period, and refuses the next', () => {
    expect(chargeRestart([], 0, budget)).toEqual({ allowed: true, recentMs: [0] });
    expect(chargeRestart([0, 1], 2, budget).allowed).toBe(true);
    expect(chargeRestart([0, 1, 2], 3, budget)).toEqual({ allowed: false, recentMs: [0, 1, 2, 3] });
  });

  it('forgets restarts exactly one period old (9,999 ms still counts, 10,000 ms does not)', () => {
    expect(chargeRestart([0, 1, 2], 9_999, budget).allowed).toBe(false);
    expect(chargeRestart([0, 5_000, 6_000], 10_000, budget)).toEqual({
      allowed: true,
      recentMs: [5_000, 6_000, 10_000],
    });
  });

  it('counts restarts from a clock that stepped back, so a stepping clock cannot hide a crash loop', () => {
    expect(chargeRestart([50_000, 50_001, 50_002], 1_000, budget).allowed).toBe(false);
  });

  it('with intensity 0 the first failure is fatal', () => {
    expect(chargeRestart([], 0, { intensity: 0, periodMs: 1 }).allowed).toBe(false);
  });
});
