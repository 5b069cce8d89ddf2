// The seed scenarios: every rule of docs/DESIGN.md#the-policy and every boundary, through the real machine.
import { describe, expect, it } from 'vitest';
import { actionsOf, at, drive, LIMIT_BYTES, policy } from '../support/governor.ts';
import { LIMIT_RESERVE_MS, type Action } from '../../machines/policy.ts';

const T0 = 1_000_000;
const WINDOW_MS = 300_000;

function request(seq: number, action: Action, atMs: number, ratio: number) {
  const usedBytes = Math.round(ratio * LIMIT_BYTES);
  return { type: 'action.requested', seq, action, atMs, ratio, usedBytes, limitBytes: LIMIT_BYTES };
}

describe('tier 1 compact', () => {
  it.each([
    [0.6999, null],
    [0.7, 'compact'],
    [0.95, 'compact'],
  ])('a first sample at %s decides %s', (ratio, expected) => {
    expect(actionsOf([at(T0, ratio)])).toEqual([expected]);
  });

  it('does not compact again inside the window: 299,999 ms after the compact', () => {
    expect(actionsOf([at(T0, 0.72), at(T0 + WINDOW_MS - 1, 0.75)])).toEqual(['compact', null]);
  });

  it('compacts again once the window has passed: 300,000 ms after the compact', () => {
    expect(actionsOf([at(T0, 0.72), at(T0 + WINDOW_MS, 0.75)])).toEqual(['compact', 'compact']);
  });

  it('measures the working set, not page cache: 65% working set plus 30% inactive file stays quiet', () => {
    expect(actionsOf([at(T0, 0.65, 0.3)])).toEqual([null]);
  });

  it('with metric "current" the same sample compacts', () => {
    expect(actionsOf([at(T0, 0.65, 0.3)], policy({ metric: 'current' }))).toEqual(['compact']);
  });
});

describe('tier 2 clear', () => {
  it('clears when memory still climbs past clearAt inside the window', () => {
    expect(actionsOf([at(T0, 0.72), at(T0 + 15_000, 0.86)])).toEqual(['compact', 'clear']);
  });

  it('does not clear when memory is flat since the compact, and clears once it climbs', () => {
    const samples = [at(T0, 0.86), at(T0 + 1_000, 0.86), at(T0 + 2_000, 0.8601)];
    expect(actionsOf(samples)).toEqual(['compact', null, 'clear']);
  });

  it('refuses a second clear after the same compact', () => {
    const samples = [at(T0, 0.72), at(T0 + 1_000, 0.86), at(T0 + 2_000, 0.88)];
    expect(actionsOf(samples)).toEqual(['compact', 'clear', null]);
  });

  it('never clears without a compact in the window: at 86% the first action is a compact', () => {
    expect(actionsOf([at(T0, 0.5), at(T0 + 1_000, 0.86)])).toEqual([null, 'compact']);
  });

  it('allows a clear again after a new compact once the window has passed', () => {
    const samples = [
      at(T0, 0.72),
      at(T0 + 1_000, 0.86),
      at(T0 + WINDOW_MS + 1_000, 0.8),
      at(T0 + WINDOW_MS + 2_000, 0.87),
    ];
    expect(actionsOf(samples)).toEqual(['compact', 'clear', 'compact', 'clear']);
  });

  it('stops at the clearAt boundary: 0.8499 does nothing, 0.85 clears', () => {
    expect(actionsOf([at(T0, 0.72), at(T0 + 1_000, 0.8499)])).toEqual(['compact', null]);
    expect(actionsOf([at(T0, 0.72), at(T0 + 1_000, 0.85)])).toEqual(['compact', 'clear']);
  });
});

describe('tier 3 archive-terminate', () => {
  it('a jump from 50% to 95% compacts first and terminates on the next sample', () => {
    const steps = drive([at(T0, 0.5), at(T0 + 1_000, 0.95), at(T0 + 1_000, 0.95)]);
    expect(steps.map((s) => s.decision.action)).toEqual([null, 'compact', 'archive-terminate']);
    // The sample right after an action comes without waiting.
    expect(steps[1]?.decision.nextPollMs).toBe(0);
  });

  it('fires at terminateAt exactly, and 0.8999 is a clear instead', () => {
    expect(actionsOf([at(T0, 0.72), at(T0 + 1_000, 0.9)])).toEqual([
      'compact',
      'archive-terminate',
    ]);
    expect(actionsOf([at(T0, 0.72), at(T0 + 1_000, 0.8999)])).toEqual(['compact', 'clear']);
  });

  it('needs a compact in the window: 300,000 ms after the compact it compacts instead', () => {
    expect(actionsOf([at(T0, 0.72), at(T0 + WINDOW_MS, 0.95)])).toEqual(['compact', 'compact']);
    expect(actionsOf([at(T0, 0.72), at(T0 + WINDOW_MS - 1, 0.95)])).toEqual([
      'compact',
      'archive-terminate',
    ]);
  });

  it('stays disarmed until a ratio below compactAt is seen (0.70 is not below), then fires again', () => {
    const samples = [
      at(T0, 0.72), // compact
      at(T0 + 1_000, 0.91), // tier 3, disarms
      at(T0 + 2_000, 0.92), // disarmed; tier 2 still holds: climbing, no clear yet
      at(T0 + 3_000, 0.95), // disarmed, already cleared: nothing
      at(T0 + 4_000, 0.7), // not below compactAt: stays disarmed
      at(T0 + 5_000, 0.95), // nothing
      at(T0 + 6_000, 0.6999), // re-arms
      at(T0 + 7_000, 0.95), // window still open: tier 3 again
    ];
    const steps = drive(samples);
    expect(steps.map((s) => s.decision.action)).toEqual([
      'compact',
      'archive-terminate',
      'clear',
      null,
      null,
      null,
      null,
      'archive-terminate',
    ]);
    expect(steps.map((s) => s.state.split(',')[1])).toEqual([
      'tier3.armed',
      'tier3.disarmed',
      'tier3.disarmed',
      'tier3.disarmed',
      'tier3.disarmed',
      'tier3.disarmed',
      'tier3.armed',
      'tier3.disarmed',
    ]);
    expect(steps[5]?.decision.reason).toBe('tier3-disarmed');
  });

  it('emits one action request per dispatched action, numbered in order', () => {
    const steps = drive([at(T0, 0.72), at(T0 + 1_000, 0.86), at(T0 + 2_000, 0.93)]);
    expect(steps.flatMap((s) => s.emitted)).toEqual([
      // Each request carries what the executor and the archive manifest need, nothing rebuilt.
      request(1, 'compact', T0, 0.72),
      request(2, 'clear', T0 + 1_000, 0.86),
      // Tier 3 also names the tier 3s before it, for the relaunch step-down (none here).
      { ...request(3, 'archive-terminate', T0 + 2_000, 0.93), earlierTier3AtMs: [] },
    ]);
  });
});

describe('ladder state', () => {
  it('walks idle -> compacted -> cleared -> idle as the window opens, clears and closes', () => {
    const steps = drive([
      at(T0, 0.5),
      at(T0 + 1, 0.72),
      at(T0 + 2, 0.86),
      at(T0 + WINDOW_MS + 1, 0.5),
    ]);
    expect(steps.map((s) => s.state.split(',')[0])).toEqual([
      'ladder.idle',
      'ladder.compacted',
      'ladder.cleared',
      'ladder.idle',
    ]);
  });
});

describe('polling speeds', () => {
  const MiB = 1024 * 1024;
  const big = (t: number, ratio: number, limit = 64 * 1024 * MiB) => ({
    t,
    current: Math.round(ratio * limit),
    inactiveFile: 0,
    limit,
  });

  it('relaxed polls at relaxedPollMs when headroom is large (64 GiB limit at 10%)', () => {
    const [step] = drive([big(T0, 0.1)]);
    expect(step?.decision.nextPollMs).toBe(60_000);
    expect(step?.state).toContain('polling.relaxed');
  });

  it('shortens the relaxed interval by headroom: time for 500 MiB/s to reach compactAt', () => {
    const limit = 16 * 1024 * MiB;
    const [step] = drive([big(T0, 0.5, limit)]);
    const headroomBytes = (0.7 - 0.5) * limit;
    expect(step?.decision.nextPollMs).toBe(Math.floor((headroomBytes / (500 * MiB)) * 1000));
  });

  it('never polls faster than minPollMs on headroom alone', () => {
    const [step] = drive([big(T0, 0.6999, 4096 * MiB)]);
    expect(step?.decision.nextPollMs).toBe(1_000);
    expect(step?.decision.speed).toBe('relaxed');
  });

  it('with little memory free, polls in time for tier 3 before the limit at the assumed growth', () => {
    // 10^9 bytes at 70%: 286 MiB free fill in 572 ms at 500 MiB/s; less the 150 ms reserve.
    const [step] = drive([at(T0, 0.6999)]);
    expect(step?.decision.nextPollMs).toBe(
      Math.floor(((0.3001 * 1e9) / (500 * MiB)) * 1000 - LIMIT_RESERVE_MS),
    );
    // Nearly full (93 MiB free of 300): never below urgentPollMs on this rule.
    expect(drive([big(T0, 0.69, 300 * MiB)])[0]?.decision.nextPollMs).toBe(250);
  });

  it('polls at most every fastPollMs at or above fastPollAt, with hysteresis on the way down', () => {
    const steps = drive([
      big(T0, 0.72),
      big(T0 + 60_000, 0.8),
      big(T0 + 75_000, 0.79),
      big(T0 + 90_000, 0.7499),
    ]);
    expect(steps.map((s) => s.decision.speed)).toEqual(['relaxed', 'fast', 'fast', 'relaxed']);
    expect(steps[1]?.decision.nextPollMs).toBeLessThanOrEqual(15_000);
    expect(steps[2]?.decision.nextPollMs).toBeLessThanOrEqual(15_000);
  });

  it('goes urgent when the growth rate projects the limit within two intervals', () => {
    // 1 GiB limit, +350 MiB in 1 s: 1.5 s to the limit, the relaxed interval would be 1 s.
    const limit = 1024 * MiB;
    const steps = drive([
      { t: T0, current: 0.15 * limit, inactiveFile: 0, limit },
      { t: T0 + 1_000, current: 0.15 * limit + 350 * MiB, inactiveFile: 0, limit },
    ]);
    expect(steps[1]?.decision.speed).toBe('urgent');
    expect(steps[1]?.decision.nextPollMs).toBe(250);
    expect(steps[1]?.state).toContain('polling.urgent');
  });

  it('looks again when the measured growth reaches the next threshold, not a whole interval later', () => {
    // 4 GiB limit, +50 MiB/s, now 10 MiB below compactAt: the crossing is 200 ms away, so the
    // next sample comes after urgentPollMs (250 ms), not after minPollMs (1000 ms).
    const limit = 4096 * MiB;
    const below = 0.7 * limit - 10 * MiB;
    const steps = drive([
      { t: T0, current: below - 50 * MiB, inactiveFile: 0, limit },
      { t: T0 + 1_000, current: below, inactiveFile: 0, limit },
    ]);
    expect(steps[1]?.decision.speed).toBe('relaxed');
    expect(steps[1]?.decision.nextPollMs).toBe(250);
    // 60 MiB below at the same rate: 1.2 s away, so the ordinary interval stands.
    const far = drive([
      { t: T0, current: 0.7 * limit - 110 * MiB, inactiveFile: 0, limit },
      { t: T0 + 1_000, current: 0.7 * limit - 60 * MiB, inactiveFile: 0, limit },
    ]);
    expect(far[1]?.decision.nextPollMs).toBe(1_000);
  });

  it('stays relaxed for slow growth that projects the limit far away', () => {
    const steps = drive([big(T0, 0.1), big(T0 + 60_000, 0.11)]);
    expect(steps[1]?.decision.speed).toBe('relaxed');
  });

  it('polls again when an open compact window closes, so a stuck ratio compacts on time', () => {
    const steps = drive([big(T0, 0.72), big(T0 + WINDOW_MS - 500, 0.75)]);
    expect(steps[1]?.decision.action).toBeNull();
    expect(steps[1]?.decision.nextPollMs).toBe(1_000);
  });

  it('asks for the next sample at once after an action and states its wall-clock deadline', () => {
    const [step] = drive([at(T0, 0.72)]);
    expect(step?.decision.nextPollMs).toBe(0);
    expect(step?.decision.nextSampleAtMs).toBe(T0);
  });
});

describe('odd samples', () => {
  it.each([
    ['a zero limit', { t: T0, current: 5, inactiveFile: 0, limit: 0 }],
    ['a negative current', { t: T0, current: -1, inactiveFile: 0, limit: 10 }],
    ['NaN', { t: T0, current: Number.NaN, inactiveFile: 0, limit: 10 }],
    ['an infinite limit', { t: T0, current: 1, inactiveFile: 0, limit: Number.POSITIVE_INFINITY }],
  ])('%s decides nothing and asks for a quick retry', (_name, sample) => {
    const [step] = drive([sample]);
    expect(step?.decision).toMatchObject({
      action: null,
      reason: 'invalid-sample',
      nextPollMs: 1_000,
    });
  });

  it('an odd sample keeps the ladder facts: the window and the compact ratio survive it', () => {
    const bad = { t: T0 + 1_000, current: 1, inactiveFile: 0, limit: 0 };
    expect(actionsOf([at(T0, 0.72), bad, at(T0 + 2_000, 0.86)])).toEqual([
      'compact',
      null,
      'clear',
    ]);
  });

  it('a sample without a usable time cannot move the ladder back: the window stays closed', () => {
    const steps = drive([
      at(0, 0.72), // compact
      at(1_000, 0.86), // clear
      { t: 300_000, current: Number.NaN, inactiveFile: 0, limit: LIMIT_BYTES }, // window closes
      { ...at(0, 0.5), t: Number.NaN }, // no usable time: the governor's clock stays at 300 s
    ]);
    expect(steps.map((s) => s.state.split(',')[0])).toEqual([
      'ladder.compacted',
      'ladder.cleared',
      'ladder.idle',
      'ladder.idle',
    ]);
    expect(steps.map((s) => s.decision.t)).toEqual([0, 1_000, 300_000, 300_000]);
  });

  it('a clock that steps backwards does not reopen tier 1', () => {
    expect(actionsOf([at(T0, 0.72), at(T0 - 10_000, 0.75)])).toEqual(['compact', null]);
  });
});
