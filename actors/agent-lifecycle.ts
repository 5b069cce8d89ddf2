// Runs the pure lifecycle machine (machines/agent-lifecycle.machine.ts) for one launched agent.
// The launching actors (launchedAgent in actors/agent.ts, tmuxLaunchedAgent in
// actors/agent-tmux.ts) report what happened as events and act on the state each event led to:
// the machine decides whether an exit relaunches the agent, after which delay, and when memgov
// ends with the agent's exit code.
import { createActor } from 'xstate';
import type { ProcessIdentity } from '../adapters/proc.ts';
import {
  agentLifecycleMachine,
  type AgentRun,
  type LifecycleEvent,
  type LifecycleState,
  type RelaunchBackoff,
} from '../machines/agent-lifecycle.machine.ts';

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
  /** Resolves with the agent's exit code when memgov should stop with it. */
  readonly finished: Promise<number>;
}

export function startLifecycle<TRun extends ProcessRun>(backoff: RelaunchBackoff): Lifecycle<TRun> {
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
