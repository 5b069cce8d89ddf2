// Test helpers: drive the real governor machine with samples given as ratios of a round limit.
import { createActor } from 'xstate';
import { DEFAULT_POLICY, resolvePolicy, type PolicyConfig } from '../../machines/config.ts';
import {
  createGovernorMachine,
  stateString,
  type ActionRequest,
} from '../../machines/governor.machine.ts';
import type { Decision, Sample } from '../../machines/policy.ts';

export const LIMIT_BYTES = 1_000_000_000;

/** A sample whose working-set ratio is exactly `ratio` of LIMIT_BYTES (no page cache). */
export function at(t: number, ratio: number, inactiveRatio = 0): Sample {
  return {
    t,
    current: Math.round((ratio + inactiveRatio) * LIMIT_BYTES),
    inactiveFile: Math.round(inactiveRatio * LIMIT_BYTES),
    limit: LIMIT_BYTES,
  };
}

export function policy(overrides: Record<string, unknown> = {}): PolicyConfig {
  return resolvePolicy(overrides, 'test')._unsafeUnwrap();
}

export interface Step {
  readonly decision: Decision;
  readonly state: string;
  readonly emitted: readonly ActionRequest[];
}

/** Runs samples through a fresh governor; returns one step per sample. */
export function drive(samples: readonly Sample[], config: PolicyConfig = DEFAULT_POLICY): Step[] {
  const actor = createActor(createGovernorMachine(config));
  const emitted: ActionRequest[] = [];
  actor.on('action.requested', (request) => emitted.push(request));
  actor.start();
  const steps: Step[] = [];
  for (const sample of samples) {
    const before = emitted.length;
    actor.send({ type: 'SAMPLE', sample });
    const snapshot = actor.getSnapshot();
    steps.push({
      decision: snapshot.context.decision as Decision,
      state: stateString(snapshot.value),
      emitted: emitted.slice(before),
    });
  }
  actor.stop();
  return steps;
}

/** The action decided for each sample, for compact scenario tables. */
export function actionsOf(samples: readonly Sample[], config?: PolicyConfig): (string | null)[] {
  return drive(samples, config).map((step) => step.decision.action);
}
