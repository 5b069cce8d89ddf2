// Tier 3 re-arms for each new agent incarnation (docs/DESIGN.md#the-policy): an AGENT.STARTED
// event with a new pid:startTicks re-arms it, the same incarnation reported again does not, and a
// restored snapshot keeps which incarnation it was armed for.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { attachedAgent } from '../../actors/agent.ts';
import { memoryLog } from '../../actors/log.ts';
import { createActor, type Snapshot } from 'xstate';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import {
  createGovernorMachine,
  stateString,
  type ActionRequest,
} from '../../machines/governor.machine.ts';
import { agentStarted, INITIAL_FACTS } from '../../machines/policy.ts';
import { at } from '../support/governor.ts';

const machine = createGovernorMachine(DEFAULT_POLICY);

function governor(snapshot?: unknown) {
  const actor = createActor(
    machine,
    snapshot === undefined ? {} : { snapshot: snapshot as Snapshot<unknown> },
  );
  const emitted: string[] = [];
  actor.on('action.requested', (request: ActionRequest) => emitted.push(request.action));
  actor.start();
  const sample = (t: number, ratio: number): string | null => {
    const before = emitted.length;
    actor.send({ type: 'SAMPLE', sample: at(t, ratio) });
    return emitted[before] ?? null;
  };
  const started = (pid: number, startTicks: number, atMs: number): void =>
    actor.send({ type: 'AGENT.STARTED', pid, startTicks, atMs });
  const state = (): string => stateString(actor.getSnapshot().value);
  return { actor, sample, started, state };
}

describe('tier 3 and agent incarnations', () => {
  it('a relaunched agent that climbs straight back meets tier 3 again', () => {
    const g = governor();
    g.started(100, 5_000, 0);
    expect(g.sample(1_000, 0.95)).toBe('compact');
    expect(g.sample(1_100, 0.95)).toBe('archive-terminate');
    expect(g.state()).toContain('tier3.disarmed');
    // The old agent is gone, the new one is already at 95%: without the re-arm, no rung is left.
    expect(g.sample(1_200, 0.95)).toBeNull();
    g.started(101, 5_300, 1_300);
    expect(g.state()).toContain('tier3.armed');
    expect(g.sample(1_400, 0.96)).toBe('archive-terminate');
    expect(g.actor.getSnapshot().context.facts.agentIncarnation).toBe('101:5300');
  });

  it('the same incarnation reported again (a restarted sampler) does not re-arm tier 3', () => {
    const g = governor();
    g.started(100, 5_000, 0);
    g.sample(1_000, 0.95);
    expect(g.sample(1_100, 0.95)).toBe('archive-terminate');
    g.started(100, 5_000, 1_200);
    expect(g.state()).toContain('tier3.disarmed');
    expect(g.sample(1_300, 0.95)).toBeNull();
    expect(g.actor.getSnapshot().context.decision?.reason).toBe('tier3-disarmed');
  });

  it('a recycled pid with another start time is a new incarnation', () => {
    const facts = { ...INITIAL_FACTS, tier3Armed: false, agentIncarnation: '100:5000' };
    expect(agentStarted(facts, '100:5000')).toBe(facts);
    expect(agentStarted(facts, '100:9000')).toEqual({
      ...facts,
      tier3Armed: true,
      agentIncarnation: '100:9000',
    });
  });

  it('a persisted snapshot keeps the incarnation: the same agent after a restore stays disarmed', () => {
    const g = governor();
    g.started(100, 5_000, 0);
    g.sample(1_000, 0.95);
    g.sample(1_100, 0.95);
    const persisted = JSON.parse(JSON.stringify(g.actor.getPersistedSnapshot())) as unknown;
    g.actor.stop();
    const restored = governor(persisted);
    expect(restored.state()).toContain('tier3.disarmed');
    restored.started(100, 5_000, 1_200);
    expect(restored.sample(1_300, 0.95)).toBeNull();
    restored.started(102, 6_000, 1_400);
    expect(restored.sample(1_500, 0.95)).toBe('archive-terminate');
  });
});

describe('the identity the sampler asks for at every sample', () => {
  it('an attached pid that is not running is logged once, not at every sample', () => {
    // A pid that was just used and has exited (reaped by spawnSync).
    const exited = spawnSync('true').pid;
    const log = memoryLog();
    const agent = attachedAgent({ pid: exited, pidfile: null }, log);
    for (let sample = 0; sample < 5; sample++) expect(agent.identity()).toBeNull();
    expect(log.records.filter((r) => r.message === 'agent process not found')).toHaveLength(1);
  });
});
