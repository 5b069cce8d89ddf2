// Property tests: the real governor machine (createActor + send) over arbitrary sample sequences
// and arbitrary valid configurations, checked against the invariants of docs/DESIGN.md#the-policy and
// against an independent reference of the three rules. Time comes from the samples' `t`: no
// timers, no clock. The ladder invariants (a), (d), (e) are checked against the test's own record
// of the samples sent and the actions emitted, never against the machine's context.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { resolvePolicy, type PolicyConfig } from '../../machines/config.ts';
import {
  createGovernorMachine,
  type ActionRequest,
  type GovernorMachine,
} from '../../machines/governor.machine.ts';
import {
  ladderStateOf,
  type Action,
  type Decision,
  type LadderFacts,
  type Sample,
} from '../../machines/policy.ts';

// Each run is ~30 samples through a fresh machine (~20 us per send, ~0.3 ms per machine built):
// 300 runs keep each property near half a second.
const RUNS = 300;

// ---------------------------------------------------------------------------------------------
// Configurations: every key drawn, then checked by resolvePolicy (the only way a config is made).

const thresholdArb = fc.oneof(
  fc.constantFrom(0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1),
  fc.double({ min: 0.01, max: 1, noNaN: true }),
);
const pollMsArb = fc.oneof(
  fc.constantFrom(1_000, 15_000, 60_000),
  fc.integer({ min: 1, max: 120_000 }),
);

const configArb: fc.Arbitrary<PolicyConfig> = fc
  .record({
    thresholds: fc.tuple(thresholdArb, thresholdArb, thresholdArb),
    fastPollAt: fc.oneof(fc.constant(0.8), fc.double({ min: 0, max: 1, noNaN: true })),
    intervals: fc.tuple(pollMsArb, pollMsArb, pollMsArb, pollMsArb),
    compactWindowMs: fc.oneof(fc.constant(300_000), fc.integer({ min: 1, max: 600_000 })),
    fastPollHysteresis: fc.oneof(fc.constant(0.05), fc.double({ min: 0, max: 0.3, noNaN: true })),
    assumedGrowthBytesPerSec: fc.oneof(
      fc.constant(200 * 1024 * 1024),
      fc.double({ min: 1, max: 2 ** 40, noNaN: true }),
    ),
    urgentHorizonIntervals: fc.oneof(fc.constant(2), fc.double({ min: 0, max: 10, noNaN: true })),
    metric: fc.constantFrom('workingSet', 'workingSet', 'workingSet', 'current'),
  })
  .map((drawn) => {
    const [compactAt, clearAt, terminateAt] = [...drawn.thresholds].sort((a, b) => a - b);
    const [urgentPollMs, minPollMs, fastPollMs, relaxedPollMs] = [...drawn.intervals].sort(
      (a, b) => a - b,
    );
    const raw = {
      metric: drawn.metric,
      compactAt,
      // Fast polling begins at terminateAt at the latest (a config rule).
      fastPollAt: Math.min(drawn.fastPollAt, terminateAt as number),
      clearAt,
      terminateAt,
      compactWindowMs: drawn.compactWindowMs,
      relaxedPollMs,
      fastPollMs,
      urgentPollMs,
      minPollMs,
      fastPollHysteresis: drawn.fastPollHysteresis,
      assumedGrowthBytesPerSec: drawn.assumedGrowthBytesPerSec,
      urgentHorizonIntervals: drawn.urgentHorizonIntervals,
    };
    const resolved = resolvePolicy(raw, 'property');
    if (resolved.isErr()) {
      throw new Error(`generator built an invalid config: ${JSON.stringify(resolved.error)}`);
    }
    return resolved.value;
  });

// ---------------------------------------------------------------------------------------------
// Sample sequences, described abstractly and built against the config while the machine runs
// (a gap may be "as the governor asked", and levels cluster around the config's thresholds).

type ThresholdKey = 'compactAt' | 'fastPollAt' | 'clearAt' | 'terminateAt';
type Gap =
  | { readonly kind: 'zero' }
  | { readonly kind: 'ms'; readonly ms: number }
  | { readonly kind: 'window'; readonly offsetMs: -1 | 0 | 1 }
  | { readonly kind: 'asRequested' };
type Level =
  | { readonly kind: 'uniform'; readonly ratio: number }
  | { readonly kind: 'threshold'; readonly key: ThresholdKey; readonly nudge: number }
  | { readonly kind: 'fastFloor'; readonly nudge: number }
  | { readonly kind: 'repeat' };
type Invalid =
  | 'nan-current'
  | 'negative-current'
  | 'negative-inactive'
  | 'zero-limit'
  | 'negative-limit'
  | 'infinite-limit'
  | 'nan-t'
  | 'nan-inactive';
interface StepSpec {
  readonly gap: Gap;
  readonly level: Level;
  /** Page cache as a share of the limit; ignored for exact samples. */
  readonly pageCache: number;
  /** Exact: no page cache and bytes = ratio * limit, so the ratio equals the level to the bit. */
  readonly exact: boolean;
  readonly newLimitBytes: number | null;
  readonly invalid: Invalid | null;
}

const LIMITS_BYTES = [2 ** 30, 2 ** 33, 2 ** 28, 1_000_000_000, 3 * 2 ** 30, 123_456_789];
const nudgeArb = fc.constantFrom(0, 0, 0, -1e-9, 1e-9, -0.01, 0.01);

const gapArb: fc.Arbitrary<Gap> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'zero' as const }), weight: 2 },
  {
    arbitrary: fc.integer({ min: 1, max: 120_000 }).map((ms) => ({ kind: 'ms' as const, ms })),
    weight: 5,
  },
  {
    arbitrary: fc.constantFrom(-1 as const, 0 as const, 1 as const).map((offsetMs) => ({
      kind: 'window' as const,
      offsetMs,
    })),
    weight: 2,
  },
  { arbitrary: fc.constant({ kind: 'asRequested' as const }), weight: 3 },
);

const levelArb: fc.Arbitrary<Level> = fc.oneof(
  {
    arbitrary: fc.double({ min: 0, max: 1.2, noNaN: true }).map((ratio) => ({
      kind: 'uniform' as const,
      ratio,
    })),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('threshold' as const),
      key: fc.constantFrom<ThresholdKey>('compactAt', 'fastPollAt', 'clearAt', 'terminateAt'),
      nudge: nudgeArb,
    }),
    weight: 5,
  },
  {
    arbitrary: nudgeArb.map((nudge) => ({ kind: 'fastFloor' as const, nudge })),
    weight: 1,
  },
  { arbitrary: fc.constant({ kind: 'repeat' as const }), weight: 2 },
);

const stepArb: fc.Arbitrary<StepSpec> = fc.record({
  gap: gapArb,
  level: levelArb,
  pageCache: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
  exact: fc.boolean(),
  newLimitBytes: fc.oneof(
    { arbitrary: fc.constant(null), weight: 9 },
    { arbitrary: fc.constantFrom(...LIMITS_BYTES), weight: 1 },
  ),
  invalid: fc.oneof(
    { arbitrary: fc.constant(null), weight: 12 },
    {
      arbitrary: fc.constantFrom<Invalid>(
        'nan-current',
        'negative-current',
        'negative-inactive',
        'zero-limit',
        'negative-limit',
        'infinite-limit',
        'nan-t',
        'nan-inactive',
      ),
      weight: 1,
    },
  ),
});

interface Scenario {
  readonly config: PolicyConfig;
  readonly startMs: number;
  readonly limitBytes: number;
  readonly steps: readonly StepSpec[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  config: configArb,
  startMs: fc.oneof(fc.constant(0), fc.constant(1_000_000), fc.integer({ min: 0, max: 2 ** 42 })),
  limitBytes: fc.constantFrom(...LIMITS_BYTES),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 60, size: 'medium' }),
});

// ---------------------------------------------------------------------------------------------
// The test's own reading of a sample (docs/DESIGN.md#the-policy), independent of policy.ts.

function usable(sample: Sample): boolean {
  const { t, current, inactiveFile, limit } = sample;
  return (
    [t, current, inactiveFile, limit].every(Number.isFinite) &&
    current >= 0 &&
    inactiveFile >= 0 &&
    limit > 0
  );
}

function ratioOf(sample: Sample, config: PolicyConfig): number {
  const used =
    config.metric === 'current'
      ? sample.current
      : Math.max(0, sample.current - sample.inactiveFile);
  return used / sample.limit;
}

function levelRatio(level: Level, config: PolicyConfig, previousRatio: number): number {
  switch (level.kind) {
    case 'uniform':
      return level.ratio;
    case 'threshold':
      return Math.max(0, config[level.key] + level.nudge);
    case 'fastFloor':
      return Math.max(0, config.fastPollAt - config.fastPollHysteresis + level.nudge);
    case 'repeat':
      return previousRatio;
  }
}

function gapMs(gap: Gap, config: PolicyConfig, previous: Decision | null): number {
  switch (gap.kind) {
    case 'zero':
      return 0;
    case 'ms':
      return gap.ms;
    case 'window':
      return Math.max(0, config.compactWindowMs + gap.offsetMs);
    case 'asRequested':
      return previous?.nextPollMs ?? 0;
  }
}

function spoil(sample: Sample, invalid: Invalid): Sample {
  switch (invalid) {
    case 'nan-current':
      return { ...sample, current: Number.NaN };
    case 'negative-current':
      return { ...sample, current: -1 };
    case 'negative-inactive':
      return { ...sample, inactiveFile: -4096 };
    case 'zero-limit':
      return { ...sample, limit: 0 };
    case 'negative-limit':
      return { ...sample, limit: -sample.limit };
    case 'infinite-limit':
      return { ...sample, limit: Number.POSITIVE_INFINITY };
    case 'nan-t':
      return { ...sample, t: Number.NaN };
    case 'nan-inactive':
      return { ...sample, inactiveFile: Number.NaN };
  }
}

// ---------------------------------------------------------------------------------------------
// Running a sequence through the real machine and recording everything observable.

interface RegionValue {
  readonly ladder: string;
  readonly tier3: string;
  readonly polling: string;
}

interface Observed {
  readonly sample: Sample;
  readonly decision: Decision;
  readonly emitted: readonly ActionRequest[];
  readonly value: RegionValue;
  readonly factsBefore: LadderFacts;
  readonly factsAfter: LadderFacts;
  readonly status: string;
}

function runMachine(
  machine: GovernorMachine,
  samples: readonly Sample[] | null,
  scenario: Scenario,
): Observed[] {
  const actor = createActor(machine);
  const emitted: ActionRequest[] = [];
  const errors: unknown[] = [];
  actor.on('action.requested', (request) => emitted.push(request));
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  const observed: Observed[] = [];
  let tMs = scenario.startMs;
  let limitBytes = scenario.limitBytes;
  let previousRatio = 0;
  let previous: Decision | null = null;
  const count = samples === null ? scenario.steps.length : samples.length;
  for (let i = 0; i < count; i++) {
    let sample: Sample;
    if (samples === null) {
      const step = scenario.steps[i] as StepSpec;
      tMs += gapMs(step.gap, scenario.config, previous);
      limitBytes = step.newLimitBytes ?? limitBytes;
      const ratio = levelRatio(step.level, scenario.config, previousRatio);
      const built: Sample = step.exact
        ? { t: tMs, current: ratio * limitBytes, inactiveFile: 0, limit: limitBytes }
        : {
            t: tMs,
            current: Math.round(ratio * limitBytes) + Math.round(step.pageCache * limitBytes),
            inactiveFile: Math.round(step.pageCache * limitBytes),
            limit: limitBytes,
          };
      sample = step.invalid === null ? built : spoil(built, step.invalid);
      if (usable(sample)) previousRatio = ratioOf(sample, scenario.config);
    } else {
      sample = samples[i] as Sample;
    }
    const factsBefore = actor.getSnapshot().context.facts;
    const emittedBefore = emitted.length;
    actor.send({ type: 'SAMPLE', sample });
    const snapshot = actor.getSnapshot();
    const decision = snapshot.context.decision;
    if (decision === null) throw new Error('no decision after a sample');
    previous = decision;
    observed.push({
      sample,
      decision,
      emitted: emitted.slice(emittedBefore),
      value: snapshot.value,
      factsBefore,
      factsAfter: snapshot.context.facts,
      status: snapshot.status,
    });
  }
  actor.stop();
  expect(errors).toEqual([]);
  return observed;
}

function run(scenario: Scenario): Observed[] {
  return runMachine(createGovernorMachine(scenario.config), null, scenario);
}

/** The one action a sample emitted, or null; more than one is reported by property (b). */
function emittedAction(step: Observed): Action | null {
  return step.emitted[0]?.action ?? null;
}

/**
 * Runs `check` over generated scenarios. A check returns the samples that break the invariant
 * (index and what was seen); one `expect` per run keeps 300 runs fast and the failure readable.
 */
function property(check: (scenario: Scenario, observed: readonly Observed[]) => unknown[]): void {
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      expect(check(scenario, run(scenario))).toEqual([]);
    }),
    { numRuns: RUNS },
  );
}

// ---------------------------------------------------------------------------------------------
// The reference: docs/DESIGN.md#the-policy's three rules, straight from the text, with their own memory.

interface ReferenceMemory {
  compact: { t: number; ratio: number } | null;
  clearedSinceCompact: boolean;
  tier3Armed: boolean;
}

function referenceDecide(
  memory: ReferenceMemory,
  sample: Sample,
  config: PolicyConfig,
): Action | null {
  if (!usable(sample)) return null;
  const ratio = ratioOf(sample, config);
  // "Within the last compactWindowMs": at exactly compactWindowMs the window has closed.
  const compactInWindow =
    memory.compact !== null && sample.t - memory.compact.t < config.compactWindowMs;
  let action: Action | null = null;
  if (ratio >= config.terminateAt && compactInWindow && memory.tier3Armed) {
    action = 'archive-terminate';
  } else if (
    ratio >= config.clearAt &&
    compactInWindow &&
    memory.compact !== null &&
    ratio > memory.compact.ratio &&
    !memory.clearedSinceCompact
  ) {
    action = 'clear';
  } else if (ratio >= config.compactAt && !compactInWindow) {
    action = 'compact';
  }
  if (action === 'compact') {
    memory.compact = { t: sample.t, ratio };
    memory.clearedSinceCompact = false;
  }
  if (action === 'clear') memory.clearedSinceCompact = true;
  if (action === 'archive-terminate') memory.tier3Armed = false;
  else if (ratio < config.compactAt) memory.tier3Armed = true;
  return action;
}

describe('governor properties over arbitrary sample sequences and valid configs', () => {
  it('(a) never clears or archive-terminates without a compact dispatched within compactWindowMs', () => {
    property((scenario, observed) => {
      const violations: unknown[] = [];
      let lastCompactMs: number | null = null;
      observed.forEach((step, index) => {
        for (const { action } of step.emitted) {
          if (
            (action === 'clear' || action === 'archive-terminate') &&
            (lastCompactMs === null ||
              step.sample.t - lastCompactMs >= scenario.config.compactWindowMs)
          ) {
            violations.push({ index, action, t: step.sample.t, lastCompactMs });
          }
          if (action === 'compact') lastCompactMs = step.sample.t;
        }
      });
      return violations;
    });
  });

  it('(b) emits at most one action per sample, the one the decision names, stamped with the sample t', () => {
    property((_scenario, observed) =>
      observed.flatMap<unknown>((step, index) =>
        step.emitted.length > 1 ||
        emittedAction(step) !== step.decision.action ||
        step.emitted.some((request) => request.atMs !== step.sample.t)
          ? [{ index, emitted: step.emitted, decided: step.decision.action }]
          : [],
      ),
    );
  });

  it('(c) polls within relaxedPollMs below fastPollAt, within fastPollMs at or above it, at once after an action, never 0 otherwise', () => {
    property((scenario, observed) => {
      const { config } = scenario;
      return observed.flatMap<unknown>((step, index) => {
        const { nextPollMs, nextSampleAtMs, t } = step.decision;
        const seen = { index, action: emittedAction(step), nextPollMs };
        if (nextSampleAtMs !== t + nextPollMs) return [{ ...seen, nextSampleAtMs }];
        if (emittedAction(step) !== null) return nextPollMs === 0 ? [] : [seen];
        if (!(nextPollMs > 0)) return [seen];
        if (!usable(step.sample)) return [];
        const ratio = ratioOf(step.sample, config);
        const ceilingMs = ratio < config.fastPollAt ? config.relaxedPollMs : config.fastPollMs;
        return nextPollMs <= ceilingMs ? [] : [{ ...seen, ratio, ceilingMs }];
      });
    });
  });

  it('(d) clears at most once per compact', () => {
    property((_scenario, observed) => {
      const violations: unknown[] = [];
      let clearsSinceCompact = 0;
      observed.forEach((step, index) => {
        for (const { action } of step.emitted) {
          if (action === 'compact') clearsSinceCompact = 0;
          if (action === 'clear') clearsSinceCompact += 1;
          if (clearsSinceCompact > 1) violations.push({ index, clearsSinceCompact });
        }
      });
      return violations;
    });
  });

  it('(e) fires tier 3 again only after a ratio below compactAt was seen', () => {
    property((scenario, observed) => {
      const violations: unknown[] = [];
      let armed = true;
      observed.forEach((step, index) => {
        if (step.emitted.some(({ action }) => action === 'archive-terminate')) {
          if (!armed) violations.push({ index, t: step.sample.t });
          armed = false;
        } else if (
          usable(step.sample) &&
          ratioOf(step.sample, scenario.config) < scenario.config.compactAt
        ) {
          armed = true;
        }
      });
      return violations;
    });
  });

  it('(f) is deterministic: the same samples give the same decisions, states and emissions (same machine twice, and a fresh machine)', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const machine = createGovernorMachine(scenario.config);
        const first = runMachine(machine, null, scenario);
        const samples = first.map((step) => step.sample);
        const again = runMachine(machine, samples, scenario);
        const fresh = runMachine(createGovernorMachine(scenario.config), samples, scenario);
        const summary = (observed: readonly Observed[]) =>
          observed.map(({ decision, value, emitted }) => ({ decision, value, emitted }));
        expect(summary(again)).toEqual(summary(first));
        expect(summary(fresh)).toEqual(summary(first));
      }),
      { numRuns: Math.floor(RUNS / 2) },
    );
  });

  it('(g) the state value mirrors the facts: ladder, tier-3 arming and polling speed', () => {
    property((scenario, observed) =>
      observed.flatMap<unknown>((step, index) => {
        const { factsAfter, decision, value } = step;
        const expected: RegionValue = {
          ladder: ladderStateOf(factsAfter, decision.t, scenario.config),
          tier3: factsAfter.tier3Armed ? 'armed' : 'disarmed',
          polling: factsAfter.speed,
        };
        const mirrors =
          value.ladder === expected.ladder &&
          value.tier3 === expected.tier3 &&
          value.polling === expected.polling &&
          decision.speed === expected.polling;
        return mirrors ? [] : [{ index, value, expected, decisionSpeed: decision.speed }];
      }),
    );
  });

  it('(h) unusable samples (NaN, negative, zero or infinite limit) never throw, never act and keep the facts but the clock', () => {
    property((_scenario, observed) =>
      observed.flatMap<unknown>((step, index) => {
        if (step.status !== 'active') return [{ index, status: step.status }];
        if (usable(step.sample)) return [];
        const quiet =
          step.emitted.length === 0 &&
          step.decision.action === null &&
          step.decision.reason === 'invalid-sample' &&
          // Only the governor's clock may move, and only forward: a finite t is still time seen.
          JSON.stringify({ ...step.factsAfter, clockMs: null }) ===
            JSON.stringify({ ...step.factsBefore, clockMs: null }) &&
          (step.factsBefore.clockMs === null ||
            (step.factsAfter.clockMs ?? Number.NEGATIVE_INFINITY) >= step.factsBefore.clockMs);
        return quiet ? [] : [{ index, sample: step.sample, decision: step.decision }];
      }),
    );
  });

  it('agrees on every sample with an independent reference of the three documented rules', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const observed = run(scenario);
        const memory: ReferenceMemory = {
          compact: null,
          clearedSinceCompact: false,
          tier3Armed: true,
        };
        const expected = observed.map((step) =>
          referenceDecide(memory, step.sample, scenario.config),
        );
        expect(observed.map(emittedAction)).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('reaches every rung, region state and unusable sample under the generators (so no property is vacuous)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        for (const step of run(scenario)) {
          seen.add(step.decision.action ?? 'none');
          seen.add(step.value.ladder);
          seen.add(step.value.tier3);
          seen.add(step.value.polling);
          if (!usable(step.sample)) seen.add('unusable');
        }
      }),
      { numRuns: 100 },
    );
    expect([...seen].sort()).toEqual(
      [
        'archive-terminate',
        'armed',
        'clear',
        'cleared',
        'compact',
        'compacted',
        'disarmed',
        'fast',
        'idle',
        'none',
        'relaxed',
        'unusable',
        'urgent',
      ].sort(),
    );
  });
});
