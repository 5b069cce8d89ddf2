// The lifecycle of an agent memgov launched (`memgov run -- CMD`, see README.md): it runs; tier 3
// announces that it is about to stop it; when it exits memgov either relaunches it after a
// backoff or ends with the agent's own exit code. Pure: the actors in actors/agent.ts and
// actors/agent-tmux.ts spawn, signal and poll, and report what happened as events; time arrives
// in those events, never from a clock read here.
import { assign, setup } from 'xstate';

/** How long a relaunch waits after an exit. */
export interface RelaunchBackoff {
  /** First relaunch delay; doubles per quick failure up to maxBackoffMs. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** A run longer than this resets the backoff. */
  readonly healthyAfterMs: number;
}

/** One run of the agent, as the actor that started it knows it; the machine only keeps it. */
export interface AgentRun {
  readonly pid: number;
  /** Wall clock (ms) when the actor started this run. */
  readonly startedAtMs: number;
}

/** How a run ended, as the actor saw it. */
export interface AgentExit {
  /** The exit code, or null when a signal ended the agent or the code was lost. */
  readonly code: number | null;
  /** The name of the signal that ended the agent (`SIGKILL`), or null. */
  readonly signal: string | null;
  readonly ranMs: number;
  /** The cgroup counted an OOM kill during the run (the evidence when the signal was lost). */
  readonly oomKilled?: boolean;
}

export type LifecycleEvent =
  | { readonly type: 'STARTED'; readonly run: AgentRun }
  /** The agent could not be started at all (no such program, tmux refused, gone at once). */
  | { readonly type: 'LAUNCH_FAILED' }
  /** Tier 3 is about to stop the agent: its exit is memgov's doing, so it is relaunched. */
  | { readonly type: 'EXIT_EXPECTED' }
  | ({ readonly type: 'EXITED' } & AgentExit)
  | { readonly type: 'BACKOFF_DONE' }
  /** memgov itself stops: the agent is stopped and never relaunched. */
  | { readonly type: 'SHUTDOWN' };

export interface LifecycleContext {
  readonly backoff: RelaunchBackoff;
  /** The run now going on, or null between runs. */
  readonly run: AgentRun | null;
  /** Tier 3 announced the stop while a run was still being started (known by its pane first). */
  readonly exitAnnounced: boolean;
  /** The delay of the backoff now running, or of the last one; null before any. */
  readonly delayMs: number | null;
  /** The delay the next quick failure waits. */
  readonly nextDelayMs: number;
  /** What memgov exits with once the agent finished; null until then. */
  readonly exitCode: number | null;
}

/** The exit code when a signal ended the agent or its code was lost (as a shell reports it). */
export const EXIT_CODE_SIGNALLED = 128;
/** The exit code when the agent could not be started (as a shell's "command not found"). */
export const EXIT_CODE_NOT_STARTED = 127;

/** The kernel killed the agent (SIGKILL: the OOM killer), so memgov relaunches it. */
export function killedByKernel(exit: AgentExit): boolean {
  return exit.signal === 'SIGKILL' || exit.oomKilled === true;
}

/**
 * The delay before a relaunch and the one after it: a run longer than healthyAfterMs starts the
 * doubling over at backoffMs; the delay never exceeds maxBackoffMs after the first.
 */
export function relaunchDelay(
  backoff: RelaunchBackoff,
  nextDelayMs: number,
  ranMs: number,
): { readonly delayMs: number; readonly nextDelayMs: number } {
  const delayMs = ranMs > backoff.healthyAfterMs ? backoff.backoffMs : nextDelayMs;
  return { delayMs, nextDelayMs: Math.min(backoff.maxBackoffMs, delayMs * 2) };
}

export function initialLifecycleContext(backoff: RelaunchBackoff): LifecycleContext {
  return {
    backoff,
    run: null,
    exitAnnounced: false,
    delayMs: null,
    nextDelayMs: backoff.backoffMs,
    exitCode: null,
  };
}

/** Starting the first run and relaunching behave alike; only the diagram tells them apart. */
const launching = {
  on: {
    STARTED: [
      { guard: 'exitAnnounced', target: 'expectingExit', actions: 'recordRun' },
      { target: 'running', actions: 'recordRun' },
    ],
    LAUNCH_FAILED: { target: 'finished', actions: 'recordLaunchFailure' },
    EXIT_EXPECTED: { actions: 'announceExit' },
    SHUTDOWN: { target: 'stopping' },
  },
} as const;

export const agentLifecycleMachine = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as RelaunchBackoff,
    output: {} as { readonly exitCode: number | null },
  },
  guards: {
    exitAnnounced: ({ context }) => context.exitAnnounced,
    killedByKernel: ({ event }) => event.type === 'EXITED' && killedByKernel(event),
  },
  actions: {
    recordRun: assign(({ event }) => (event.type === 'STARTED' ? { run: event.run } : {})),
    announceExit: assign({ exitAnnounced: true }),
    recordLaunchFailure: assign({ run: null, exitCode: EXIT_CODE_NOT_STARTED }),
    recordExitCode: assign(({ event }) => ({
      run: null,
      exitCode: event.type === 'EXITED' ? (event.code ?? EXIT_CODE_SIGNALLED) : null,
    })),
    startBackoff: assign(({ context, event }) => ({
      run: null,
      exitAnnounced: false,
      ...relaunchDelay(
        context.backoff,
        context.nextDelayMs,
        event.type === 'EXITED' ? event.ranMs : 0,
      ),
    })),
    forgetRun: assign({ run: null }),
  },
}).createMachine({
  id: 'agentLifecycle',
  initial: 'starting',
  context: ({ input }) => initialLifecycleContext(input),
  output: ({ context }) => ({ exitCode: context.exitCode }),
  states: {
    starting: launching,
    running: {
      on: {
        EXIT_EXPECTED: { target: 'expectingExit' },
        // Otherwise the agent chose to exit, and memgov ends with it.
        EXITED: [
          { guard: 'killedByKernel', target: 'backoff', actions: 'startBackoff' },
          { target: 'finished', actions: 'recordExitCode' },
        ],
        SHUTDOWN: { target: 'stopping' },
      },
    },
    expectingExit: {
      on: {
        EXITED: { target: 'backoff', actions: 'startBackoff' },
        SHUTDOWN: { target: 'stopping' },
      },
    },
    backoff: {
      on: {
        BACKOFF_DONE: { target: 'relaunching' },
        SHUTDOWN: { target: 'stopped' },
      },
    },
    relaunching: launching,
    stopping: {
      on: {
        // A run whose start was under way when memgov began to stop: the actor stops it too.
        STARTED: { actions: 'recordRun' },
        EXITED: { target: 'stopped', actions: 'forgetRun' },
        LAUNCH_FAILED: { target: 'stopped' },
      },
    },
    /** The agent ended on its own (or never started): memgov stops with its exit code. */
    finished: { type: 'final' },
    /** memgov stopped the agent on its way out. */
    stopped: { type: 'final' },
  },
});

/** The machine's states, for the actors that act on them. */
export type LifecycleState =
  | 'starting'
  | 'running'
  | 'expectingExit'
  | 'backoff'
  | 'relaunching'
  | 'stopping'
  | 'finished'
  | 'stopped';
