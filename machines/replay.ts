// Replay: the governor sampling a recorded memory curve the way the live sampler would
// (docs/DESIGN.md#command-line). It sees the first sample at or after each time it asks for; the first line
// is always seen, and a sample is seen at most once, so a nextPollMs of 0 means the next line.
// Actions count as dispatched instantly. Deterministic: no clock, no randomness.
import { createActor, type Actor } from 'xstate';
import type { PolicyConfig } from './config.ts';
import { createGovernorMachine, stateString, type GovernorMachine } from './governor.machine.ts';
import type { Decision, Sample } from './policy.ts';

export interface ReplayStep {
  readonly decision: Decision;
  readonly state: string;
}

export interface Replayer {
  /** Offers the next trace sample; returns the step when the governor sees it, else null. */
  offer(sample: Sample): ReplayStep | null;
}

export function createReplayer(config: PolicyConfig): Replayer {
  const actor: Actor<GovernorMachine> = createActor(createGovernorMachine(config));
  actor.start();
  let dueAtMs = Number.NEGATIVE_INFINITY;
  let ladder: unknown;
  let tier3: unknown;
  let polling: unknown;
  let state = '';
  return {
    offer(sample) {
      if (sample.t < dueAtMs) return null;
      actor.send({ type: 'SAMPLE', sample });
      const snapshot = actor.getSnapshot();
      const decision = snapshot.context.decision as Decision;
      dueAtMs = decision.t + decision.nextPollMs;
      // Render the state value only when one of its regions changed (most samples change none).
      const value = snapshot.value as Record<string, unknown>;
      if (value.ladder !== ladder || value.tier3 !== tier3 || value.polling !== polling) {
        ({ ladder, tier3, polling } = value);
        state = stateString(value);
      }
      return { decision, state };
    },
  };
}

/** One replay output line (without the newline), keys in the documented order (docs/DESIGN.md#command-line). */
export function formatStep(step: ReplayStep): string {
  const { decision } = step;
  const action = decision.action === null ? 'null' : `"${decision.action}"`;
  return `{"t":${decision.t},"ratio":${decision.ratio},"action":${action},"nextPollMs":${decision.nextPollMs},"state":"${step.state}"}`;
}
