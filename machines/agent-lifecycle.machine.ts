// The lifecycle of an agent memgov launched (`memgov run -- CMD`, see README.md): it runs; tier 3
// announces that it is about to stop it; when it exits memgov either relaunches it after a
// backoff or ends with the agent's own exit code. Pure: the actors in actors/agent.ts and
// actors/agent-tmux.ts spawn, signal and poll, and report what happened as events; time arrives
// in those events, never from a clock read here. Each tier 3 steps the relaunch down
// (machines/relaunch.ts): resume, then fresh, then memgov gives up with exit 4.
import { assign, setup } from 'xstate';
import { relaunchStep, type RelaunchStep } from './relaunch.ts';

/** How long a relaunch waits after an exit. */
export interface RelaunchBackoff {
  /** First relaunch delay; doubles per quick failure up to maxBackoffMs. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** A run longer than this resets the backoff. */
  readonly healthyAfterMs: number;
}

/** The machine's input: the backoff, and the window the relaunch step-down counts tier 3s in. */
export interface RelaunchPolicy extends RelaunchBackoff {
  readonly relaunchWindowMs: number;
}

/** A tier 3 about to stop the agent, as the executor knows it. */
export interface Tier3Stop {
  /** When the governor dispatched it (wall clock, ms). */
  readonly atMs: number;
  /** When the tier 3s before it were dispatched (the governor's persisted history). */
  readonly earlierTier3AtMs: readonly number[];
  /** The archive tier 3 wrote before the SIGTERM, or null when it wrote none. */
  readonly archiveDir: string | null;
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
  | ({ readonly type: 'EXIT_EXPECTED' } & Tier3Stop)
  | ({ readonly type: 'EXITED' } & AgentExit)
  | { readonly type: 'BACKOFF_DONE' }
  /** memgov itself stops: the agent is stopped and never relaunched. */
  | { readonly type: 'SHUTDOWN' };

export interface LifecycleContext {
  readonly backoff: RelaunchPolicy;
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
  /** What the next relaunch does: set by each tier 3, back to `resume` once a run started. */
  readonly step: RelaunchStep;
  /** The tier-3 archives written since memgov started, oldest first (named by a fresh start). */
  readonly archivesKept: readonly string[];
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

export function initialLifecycleContext(backoff: RelaunchPolicy): LifecycleContext {
  return {
    backoff,
    run: null,
    exitAnnounced: false,
    delayMs: null,
    nextDelayMs: backoff.backoffMs,
    exitCode: null,
    step: 'resume',
    archivesKept: [],
  };
}

/** The context after a tier 3 announced the stop: the step its relaunch takes, its archive. */
function announced(context: LifecycleContext, stop: Tier3Stop): Partial<LifecycleContext> {
  const { atMs, earlierTier3AtMs, archiveDir } = stop;
  return {
    exitAnnounced: true,
    step: relaunchStep(earlierTier3AtMs, atMs, context.backoff.relaunchWindowMs),
    archivesKept:
      archiveDir === null ? context.archivesKept : [...context.archivesKept, archiveDir],
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
    input: {} as RelaunchPolicy,
    output: {} as { readonly exitCode: number | null },
  },
  guards: {
    exitAnnounced: ({ context }) => context.exitAnnounced,
    relaunchBudgetSpent: ({ context }) => context.step === 'give-up',
    killedByKernel: ({ event }) => event.type === 'EXITED' && killedByKernel(event),
  },
  actions: {
    // A run that started resets the step, unless tier 3 was announced while it was starting.
    recordRun: assign(({ context, event }) =>
      event.type !== 'STARTED'
        ? {}
        : { run: event.run, ...(context.exitAnnounced ? {} : { step: 'resume' as const }) },
    ),
    announceExit: assign(({ context, event }) =>
      event.type === 'EXIT_EXPECTED' ? announced(context, event) : {},
    ),
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
        EXIT_EXPECTED: { target: 'expectingExit', actions: 'announceExit' },
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
        // The third tier 3 in the window: its archive and SIGTERM happened, the relaunch does not.
        EXITED: [
          { guard: 'relaunchBudgetSpent', target: 'finished', actions: 'recordExitCode' },
          { target: 'backoff', actions: 'startBackoff' },
        ],
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
    /**
     * The agent ended on its own (or never started): memgov stops with its exit code. Or the
     * relaunch budget is spent (`step` is `give-up`): memgov ends with exit 4.
     */
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

/** The lifecycle ended because a tier 3 spent the relaunch budget (memgov then exits 4). */
export function relaunchBudgetSpent(snapshot: {
  readonly value: unknown;
  readonly context: LifecycleContext;
}): boolean {
  return snapshot.value === 'finished' && snapshot.context.step === 'give-up';
}
