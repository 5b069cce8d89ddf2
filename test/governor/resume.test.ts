// A governor resumed from its context alone (a restarted child, or a state file written from a
// final supervisor state) starts in exactly the state its full snapshot had.
import { readdirSync, readFileSync } from 'node:fs';
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import { createGovernorMachine, type GovernorContext } from '../../machines/governor.machine.ts';

const dir = new URL('../fixtures/snapshots/', import.meta.url);
const goldens = readdirSync(dir).filter((name) => name.endsWith('.json'));

describe('resume from context', () => {
  it.each(goldens)('%s: same state value and context as the full snapshot', (name) => {
    const golden = JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as {
      value: unknown;
      context: GovernorContext;
    };
    const actor = createActor(createGovernorMachine(DEFAULT_POLICY), {
      input: { resume: golden.context },
    }).start();
    expect(actor.getSnapshot().value).toEqual(golden.value);
    expect(actor.getSnapshot().context).toEqual(golden.context);
  });

  it('a fresh governor passes straight through the resume states', () => {
    const actor = createActor(createGovernorMachine(DEFAULT_POLICY)).start();
    expect(actor.getSnapshot().value).toEqual({
      ladder: 'idle',
      tier3: 'armed',
      polling: 'relaxed',
    });
  });
});
