// The supervisor's wiring and restarts, with scripted children provided in place of the real
// sampler and executor: no timers, no cgroups, no agent.
import { createActor, fromCallback } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import type { GovernorContext } from '../../machines/governor.machine.ts';
import type { Sample } from '../../machines/policy.ts';
import {
  createSupervisorMachine,
  type ExecuteCommand,
  type SamplerCommand,
  type SupervisorEvent,
} from '../../machines/supervisor.machine.ts';
import { at } from '../support/governor.ts';

const T0 = 1_000_000;
const budget = { intensity: 3, periodMs: 60_000 };

interface Harness {
  log: string[];
  sampler: (send: (e: SupervisorEvent) => void) => void;
  executor?: (command: ExecuteCommand, send: (e: SupervisorEvent) => void) => void;
  samplerFails?: () => boolean;
  resume?: GovernorContext | null;
}

/** A supervisor whose sampler replays `samples` one per SCHEDULE / SAMPLE_NOW. */
function start(h: Harness) {
  const machine = createSupervisorMachine({ policy: DEFAULT_POLICY, budget }).provide({
    actors: {
      sampler: fromCallback<SamplerCommand, { firstSampleAtMs: number }>(
        ({ sendBack, receive }) => {
          if (h.samplerFails?.() === true) throw new Error('cgroup vanished');
          receive((command) => {
            h.log.push(`sampler:${command.type}`);
            h.sampler(sendBack);
          });
          h.sampler(sendBack);
        },
      ),
      executor: fromCallback<ExecuteCommand>(({ sendBack, receive }) => {
        receive((command) => {
          h.log.push(`execute:${command.request.seq}:${command.request.action}`);
          h.executor?.(command, sendBack);
        });
      }),
    },
    actions: {
      persist: ({ context }) => {
        h.log.push(`persist:${context.governor?.actionSeq ?? 0}`);
      },
    },
  });
  return createActor(machine, { input: { governor: h.resume ?? null } });
}

function scripted(samples: Sample[]): (send: (e: SupervisorEvent) => void) => void {
  let next = 0;
  return (send) => {
    const sample = samples[next++];
    if (sample !== undefined) send({ type: 'SAMPLE', sample });
  };
}

/** An executor whose action finished ok at T0 + 120 ms, 120 ms long. */
function finishedAt120(command: ExecuteCommand, send: (e: SupervisorEvent) => void): void {
  send({
    type: 'ACTION.RESULT',
    seq: command.request.seq,
    outcome: 'ok',
    durationMs: 120,
    finishedAtMs: T0 + 120,
  });
}

describe('supervisor wiring', () => {
  it('persists each decision before the executor hears of the action, and hands it over once', () => {
    const log: string[] = [];
    const actor = start({
      log,
      sampler: scripted([at(T0, 0.5), at(T0 + 1_000, 0.72), at(T0 + 2_000, 0.74)]),
    });
    actor.start();
    const executions = log.filter((line) => line.startsWith('execute:'));
    expect(executions).toEqual(['execute:1:compact']);
    expect(log.indexOf('persist:1')).toBeLessThan(log.indexOf('execute:1:compact'));
    expect(actor.getSnapshot().context.governor?.actionSeq).toBe(1);
    actor.stop();
  });

  it('forwards results to the governor, which records them, then samples at once', () => {
    const log: string[] = [];
    const actor = start({
      log,
      // The second sample is taken before the result arrives; the third, at once after it.
      sampler: scripted([at(T0, 0.72), at(T0 + 500, 0.65), at(T0 + 1_000, 0.6)]),
      executor: finishedAt120,
    });
    actor.start();
    const governor = actor.getSnapshot().context.governor;
    expect(governor?.actions).toMatchObject([
      { seq: 1, action: 'compact', outcome: 'ok', durationMs: 120, usedBytes: 720_000_000 },
    ]);
    expect(governor?.actions[0]?.usedBytesAfter).toBe(600_000_000);
    expect(log).toContain('sampler:SAMPLE_NOW');
    actor.stop();
  });

  it('measures a finished action on the sample that dispatches the next rung', () => {
    const log: string[] = [];
    const actor = start({
      log,
      // Compact at 72%, a sample while it runs, its result, then at once a sample at 87% that
      // dispatches the clear.
      sampler: scripted([at(T0, 0.72), at(T0 + 500, 0.72), at(T0 + 1_000, 0.87)]),
      executor: (command, send) => {
        if (command.request.action === 'compact') finishedAt120(command, send);
      },
    });
    actor.start();
    const actions = actor.getSnapshot().context.governor?.actions ?? [];
    expect(actions.map((a) => [a.seq, a.action, a.usedBytesAfter])).toEqual([
      [1, 'compact', 870_000_000],
      [2, 'clear', null],
    ]);
    actor.stop();
  });

  it('never hands over again an action a resumed governor already dispatched', () => {
    const log: string[] = [];
    const first = start({ log, sampler: scripted([at(T0, 0.72)]) });
    first.start();
    const saved = JSON.parse(
      JSON.stringify(first.getSnapshot().context.governor),
    ) as GovernorContext;
    first.stop();
    const resumedLog: string[] = [];
    const resumed = start({
      log: resumedLog,
      sampler: scripted([at(T0 + 60_000, 0.75)]),
      resume: saved,
    });
    resumed.start();
    expect(resumedLog.filter((line) => line.startsWith('execute:'))).toEqual([]);
    expect(resumed.getSnapshot().context.governor?.actionSeq).toBe(1);
    resumed.stop();
  });
});

describe('supervisor restarts (one_for_one, OTP intensity/period)', () => {
  it('restarts a failed sampler and keeps governing', () => {
    const log: string[] = [];
    let failures = 1;
    const actor = start({
      log,
      sampler: scripted([at(T0, 0.72)]),
      samplerFails: () => failures-- > 0,
    });
    actor.start();
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toEqual({ running: { sampler: 'up', governor: 'up', executor: 'up' } });
    expect(snapshot.context.restarts.sampler).toBe(1);
    expect(log).toContain('execute:1:compact');
    actor.stop();
  });

  it('gives up after more restarts than the budget allows: final state failed, cause recorded', () => {
    const log: string[] = [];
    const actor = start({ log, sampler: () => undefined, samplerFails: () => true });
    actor.start();
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toBe('failed');
    expect(snapshot.status).toBe('done');
    expect(snapshot.context.restarts.sampler).toBe(budget.intensity);
    expect(snapshot.context.failure).toEqual({ child: 'sampler', detail: 'cgroup vanished' });
    expect(log.at(-1)).toBe('persist:0');
  });

  it('marks in-flight actions interrupted when the executor fails, and does not run them again', () => {
    const log: string[] = [];
    let crash = true;
    const actor = start({
      log,
      sampler: scripted([at(T0, 0.72), at(T0 + 1_000, 0.73)]),
      executor: () => {
        if (crash) {
          crash = false;
          throw new Error('transport exploded');
        }
      },
    });
    actor.start();
    const snapshot = actor.getSnapshot();
    expect(snapshot.context.restarts.executor).toBe(1);
    expect(snapshot.context.governor?.actions).toMatchObject([
      { seq: 1, outcome: 'interrupted', detail: 'the executor failed and was restarted' },
    ]);
    expect(log.filter((line) => line.startsWith('execute:'))).toEqual(['execute:1:compact']);
    actor.stop();
  });
});
