// Runs the pure lifecycle machine (machines/agent-lifecycle.machine.ts) for one launched agent.
// The launching actors (launchedAgent in actors/agent.ts, tmuxLaunchedAgent in
// actors/agent-tmux.ts) report what happened as events and act on the state each event led to:
// the machine decides whether an exit relaunches the agent, after which delay, resuming or fresh,
// and when memgov ends (with the agent's exit code, or exit 4 once the relaunch budget is spent).
import { createActor } from 'xstate';
import type { ProcessIdentity } from '../adapters/proc.ts';
import {
  agentLifecycleMachine,
  relaunchBudgetSpent,
  type AgentRun,
  type LifecycleEvent,
  type LifecycleState,
  type RelaunchPolicy,
} from '../machines/agent-lifecycle.machine.ts';
import type { RelaunchStep } from '../machines/relaunch.ts';
import type { Log } from './log.ts';

/** A run as a launching actor records it: the machine's run plus the verified process. */
export interface ProcessRun extends AgentRun {
  /** The verified process, or null when it could not be read (it exited as it started). */
  readonly identity: ProcessIdentity | null;
}

export interface Lifecycle<TRun extends ProcessRun> {
  /** Sends one event (ignored once the lifecycle ended) and returns the state it led to. */
  send(event: LifecycleEvent | { readonly type: 'STARTED'; readonly run: TRun }): LifecycleState;
  /** The run going on, as recorded with STARTED; null between runs. */
  run(): TRun | null;
  /** The delay of the backoff now running (ms). */
  delayMs(): number;
  /** What the relaunch now due does (the last tier 3 decided it); `resume` after a kernel kill. */
  step(): RelaunchStep;
  /** The tier-3 archives written since memgov started, oldest first. */
  archivesKept(): readonly string[];
  /** True once the agent ended after a tier 3 that spent the relaunch budget. */
  relaunchBudgetSpent(): boolean;
  /** Resolves with the agent's exit code when memgov should stop with it. */
  readonly finished: Promise<number>;
}

export function startLifecycle<TRun extends ProcessRun>(backoff: RelaunchPolicy): Lifecycle<TRun> {
  const actor = createActor(agentLifecycleMachine, { input: backoff }).start();
  const finished = new Promise<number>((resolve) => {
    actor.subscribe((snapshot) => {
      if (snapshot.matches('finished')) resolve(snapshot.context.exitCode ?? 0);
    });
  });
  const state = (): LifecycleState => actor.getSnapshot().value;
  return {
    send: (event) => {
      if (actor.getSnapshot().status === 'active') actor.send(event);
      return state();
    },
    // Only `send` records runs, and it takes TRun: the run kept is the one given.
    run: () => actor.getSnapshot().context.run as TRun | null,
    delayMs: () => actor.getSnapshot().context.delayMs ?? backoff.backoffMs,
    step: () => actor.getSnapshot().context.step,
    archivesKept: () => actor.getSnapshot().context.archivesKept,
    relaunchBudgetSpent: () => relaunchBudgetSpent(actor.getSnapshot()),
    finished,
  };
}

/** After the backoff the machine chose, relaunches with `launch` unless memgov stopped meanwhile. */
export function relaunchAfterBackoff<TRun extends ProcessRun>(
  lifecycle: Lifecycle<TRun>,
  launch: () => void,
): void {
  setTimeout(() => {
    if (lifecycle.send({ type: 'BACKOFF_DONE' }) === 'relaunching') launch();
  }, lifecycle.delayMs());
}

/**
 * Logs the relaunch now due: one `relaunching agent` line with its step; a fresh start also says
 * why and names the archives kept, where the conversation it does not resume is.
 */
export function logRelaunch<TRun extends ProcessRun>(
  log: Log,
  lifecycle: Lifecycle<TRun>,
  command: readonly string[],
): void {
  const step = lifecycle.step();
  if (step === 'fresh') {
    log.warn('relaunching fresh: the resumed agent met tier 3 again within relaunchWindowMs', {
      archivesKept: lifecycle.archivesKept(),
    });
  }
  log.info('relaunching agent', { delayMs: lifecycle.delayMs(), command, step });
}
