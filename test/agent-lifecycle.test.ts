// The launched agent's lifecycle, driven as the pure machine it is: each event goes through
// `transition`, nothing runs, no clock is read; time is in the events.
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import {
  agentLifecycleMachine,
  relaunchDelay,
  type LifecycleEvent,
} from '../machines/agent-lifecycle.machine.ts';

type Snapshot = SnapshotFrom<typeof agentLifecycleMachine>;

const BACKOFF = {
  backoffMs: 1_000,
  maxBackoffMs: 8_000,
  healthyAfterMs: 60_000,
  relaunchWindowMs: 1_800_000,
} as const;

function boot(): Snapshot {
  return initialTransition(agentLifecycleMachine, BACKOFF)[0];
}

/** The snapshot after each event, in order. */
function drive(events: readonly LifecycleEvent[], from: Snapshot = boot()): Snapshot[] {
  const trace: Snapshot[] = [];
  let snapshot = from;
  for (const event of events) {
    snapshot = transition(agentLifecycleMachine, snapshot, event)[0];
    trace.push(snapshot);
  }
  return trace;
}

function last(events: readonly LifecycleEvent[], from?: Snapshot): Snapshot {
  const trace = drive(events, from);
  const snapshot = trace.at(-1);
  if (snapshot === undefined) throw new Error('no events');
  return snapshot;
}

const started = (pid: number, startedAtMs = 0): LifecycleEvent => ({
  type: 'STARTED',
  run: { pid, startedAtMs },
});
const exited = (
  ranMs: number,
  code: number | null,
  signal: string | null = null,
  oomKilled?: boolean,
): LifecycleEvent => ({
  type: 'EXITED',
  code,
  signal,
  ranMs,
  ...(oomKilled === undefined ? {} : { oomKilled }),
});
const killed = (ranMs: number): LifecycleEvent => exited(ranMs, null, 'SIGKILL');
/** Tier 3 announces the stop: dispatched at atMs, after tier 3s at earlierTier3AtMs. */
const tier3 = (
  atMs = 0,
  earlierTier3AtMs: readonly number[] = [],
  archiveDir: string | null = null,
): LifecycleEvent => ({ type: 'EXIT_EXPECTED', atMs, earlierTier3AtMs, archiveDir });

describe('the agent lifecycle machine', () => {
  it('starts in `starting` and records the run STARTED reports', () => {
    expect(boot().value).toBe('starting');
    const running = last([started(41, 5_000)]);
    expect(running.value).toBe('running');
    expect(running.context.run).toEqual({ pid: 41, startedAtMs: 5_000 });
  });

  it('expected exit -> backoff -> relaunch: tier 3 stopped it, so it comes back', () => {
    const trace = drive([
      started(41),
      tier3(),
      exited(3_000, 143, 'SIGTERM'),
      { type: 'BACKOFF_DONE' },
      started(42),
    ]);
    expect(trace.map((s) => s.value)).toEqual([
      'running',
      'expectingExit',
      'backoff',
      'relaunching',
      'running',
    ]);
    expect(trace[2]?.context).toMatchObject({ run: null, delayMs: 1_000, exitCode: null });
    expect(trace[4]?.context.run).toEqual({ pid: 42, startedAtMs: 0 });
    // The expectation was for the run tier 3 stopped: the next run's own exit ends memgov.
    const after = last([exited(5_000, 0)], trace[4]);
    expect(after.value).toBe('finished');
    expect(after.status).toBe('done');
  });

  it('unexpected exit -> finished with the agent exit code', () => {
    const done = last([started(41), exited(10_000, 3)]);
    expect(done.value).toBe('finished');
    expect(done.status).toBe('done');
    expect(done.output).toEqual({ exitCode: 3 });
    expect(done.context.run).toBeNull();
  });

  it('a signal other than SIGKILL ends memgov with 128; a start failure with 127', () => {
    expect(last([started(41), exited(10, null, 'SIGTERM')]).output).toEqual({ exitCode: 128 });
    expect(last([{ type: 'LAUNCH_FAILED' }]).output).toEqual({ exitCode: 127 });
  });

  it('a kernel kill relaunches without tier 3: SIGKILL, or an OOM kill whose status was lost', () => {
    expect(last([started(41), killed(10)]).value).toBe('backoff');
    const lost = exited(10, null, null, true);
    expect(last([started(41), lost]).value).toBe('backoff');
    const noEvidence = exited(10, null, null, false);
    expect(last([started(41), noEvidence]).output).toEqual({ exitCode: 128 });
  });

  it('backoff doubles per quick failure up to the cap, and a long run resets it', () => {
    const quickCrash = (pid: number): LifecycleEvent[] => [
      killed(500),
      { type: 'BACKOFF_DONE' },
      started(pid),
    ];
    const trace = drive([
      started(1),
      ...quickCrash(2),
      ...quickCrash(3),
      ...quickCrash(4),
      ...quickCrash(5),
      ...quickCrash(6),
      killed(BACKOFF.healthyAfterMs + 1),
      { type: 'BACKOFF_DONE' },
      started(7),
      killed(500),
    ]);
    const delaysMs = trace.filter((s) => s.value === 'backoff').map((s) => s.context.delayMs);
    expect(delaysMs).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 1_000, 2_000]);
  });

  it('relaunchDelay: a run of exactly healthyAfterMs is still a quick failure', () => {
    expect(relaunchDelay(BACKOFF, 4_000, BACKOFF.healthyAfterMs)).toEqual({
      delayMs: 4_000,
      nextDelayMs: 8_000,
    });
    expect(relaunchDelay(BACKOFF, 4_000, BACKOFF.healthyAfterMs + 1)).toEqual({
      delayMs: 1_000,
      nextDelayMs: 2_000,
    });
  });

  it('shutdown during backoff never relaunches: the timer that fires later is ignored', () => {
    const trace = drive([
      started(41),
      killed(10),
      { type: 'SHUTDOWN' },
      { type: 'BACKOFF_DONE' },
      started(42),
    ]);
    expect(trace.map((s) => s.value)).toEqual([
      'running',
      'backoff',
      'stopped',
      'stopped',
      'stopped',
    ]);
    expect(trace.at(-1)?.context.run).toBeNull();
    expect(trace.at(-1)?.output).toEqual({ exitCode: null });
  });

  it('shutdown while running stops: the exit that follows is never relaunched, even after tier 3', () => {
    const trace = drive([started(41), tier3(), { type: 'SHUTDOWN' }, tier3(), killed(10)]);
    expect(trace.map((s) => s.value)).toEqual([
      'running',
      'expectingExit',
      'stopping',
      'stopping',
      'stopped',
    ]);
    expect(trace.at(-1)?.status).toBe('done');
  });

  it('a run whose start was under way at shutdown is kept, so the actor can stop it too', () => {
    const stopping = last([{ type: 'SHUTDOWN' }, started(41)]);
    expect(stopping.value).toBe('stopping');
    expect(stopping.context.run).toEqual({ pid: 41, startedAtMs: 0 });
  });

  it('tier 3 announced before the start was reported still makes that exit a relaunch', () => {
    const trace = drive([tier3(), started(41), exited(10, 143, 'SIGTERM')]);
    expect(trace.map((s) => s.value)).toEqual(['starting', 'expectingExit', 'backoff']);
    expect(trace.at(-1)?.context.exitAnnounced).toBe(false);
  });
});
