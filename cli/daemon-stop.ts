// Part of the composition root (cli/daemon.ts): running the started system until it should stop
// (SIGTERM/SIGINT, the launched agent's own exit, or the supervisor giving up), then stopping it
// in order: persist, stop the actors, close the observers. Returns the exit code.
import type { Actor, AnyStateMachine } from 'xstate';
import type { AgentHandle } from '../actors/agent.ts';
import type { Observers } from '../actors/observers.ts';
import type { Persister } from '../actors/persistence.ts';
import type { SupervisorContext } from '../machines/supervisor.machine.ts';
import type { DaemonOptions } from './daemon-options.ts';

/** The supervisor's restart budget was spent: the outer loop should restart memgov. */
export const EXIT_BUDGET_SPENT = 3;

/**
 * Launch mode: a third tier 3 within relaunchWindowMs (machines/relaunch.ts). Even a fresh agent
 * climbs straight back, so memgov stops relaunching and the pod's restart policy takes over.
 */
export const EXIT_RELAUNCH_BUDGET_SPENT = 4;

/** Resolves on SIGTERM or SIGINT; `dispose` removes the listeners (in-process callers). */
export interface StopSignals {
  readonly signal: Promise<string>;
  readonly dispose: () => void;
}

/** SIGTERM and SIGINT as a promise; listening from the call on, until dispose. */
export function listenForStop(): StopSignals {
  const listeners: [NodeJS.Signals, () => void][] = [];
  const signal = new Promise<string>((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT'] as const) {
      const listener = (): void => resolve(name);
      listeners.push([name, listener]);
      process.once(name, listener);
    }
  });
  return {
    signal,
    dispose: () => listeners.forEach(([name, l]) => process.removeListener(name, l)),
  };
}

/** Resolves with the exit code once the supervisor reaches a final state (or crashes). */
function supervisorDone(actor: Actor<AnyStateMachine>, log: DaemonOptions['log']): Promise<number> {
  return new Promise<number>((resolve) => {
    actor.subscribe({
      next: (snapshot) => {
        if (snapshot.status !== 'done') return;
        if (snapshot.value !== 'failed') return resolve(0);
        const context = snapshot.context as SupervisorContext;
        log.error('restart budget spent: giving up so the outer loop can restart memgov', {
          failure: context.failure,
          restarts: context.restarts,
        });
        resolve(EXIT_BUDGET_SPENT);
      },
      error: (error) => {
        log.error('supervisor crashed', { detail: String(error) });
        resolve(EXIT_BUDGET_SPENT);
      },
    });
  });
}

export interface RunningSystem {
  readonly actor: Actor<AnyStateMachine>;
  readonly agent: AgentHandle;
  readonly observers: Observers;
  readonly persister: Persister;
  readonly options: DaemonOptions;
  readonly now: () => number;
  /** SIGTERM/SIGINT, listened to since before the start line; null when stopSignal is given. */
  readonly signals: StopSignals | null;
}

type StopReason =
  | { readonly kind: 'signal'; readonly name: string }
  | { readonly kind: 'agent' | 'supervisor'; readonly code: number };

/** One line for why memgov stops (the supervisor's giving up is logged where it is seen). */
function logStop(reason: StopReason, exitCode: number, options: DaemonOptions): void {
  const { log, config } = options;
  if (exitCode === EXIT_RELAUNCH_BUDGET_SPENT) {
    log.error('relaunch budget spent: a third tier 3 within relaunchWindowMs; exiting 4', {
      relaunchWindowMs: config.daemon.relaunchWindowMs,
      agentExitCode: reason.kind === 'agent' ? reason.code : null,
      archiveDir: config.daemon.archive.dir,
    });
  } else if (reason.kind === 'signal') log.info('stopping', { signal: reason.name });
  else if (reason.kind === 'agent') log.info('stopping', { agentExitCode: reason.code });
}

/** memgov's exit code for why it stops: the agent's own exit is never passed on. */
function exitCodeOf(reason: StopReason, agent: AgentHandle): number {
  if (reason.kind === 'supervisor') return reason.code;
  return reason.kind === 'agent' && agent.relaunchBudgetSpent() ? EXIT_RELAUNCH_BUDGET_SPENT : 0;
}

export async function runUntilStopped(system: RunningSystem): Promise<number> {
  const { actor, agent, observers, persister, options } = system;
  const { log } = options;
  const signals = system.signals;
  const done = supervisorDone(actor, log);
  actor.start();
  const inspecting = observers.startInspector();
  const governor = (actor.getSnapshot().context as SupervisorContext).governor;
  // Whatever was in flight when memgov last stopped ran (or not) then: it is never run again.
  if (governor?.actions.some((record) => record.outcome === 'pending') === true) {
    actor.send({
      type: 'ACTIONS.INTERRUPTED',
      detail: 'memgov restarted while the action ran',
      atMs: system.now(),
    });
  }
  const stopReason: StopReason = await Promise.race([
    (options.stopSignal ?? signals?.signal ?? new Promise<string>(() => undefined)).then(
      (name) => ({ kind: 'signal' as const, name }),
    ),
    agent.finished.then((code) => ({ kind: 'agent' as const, code })),
    done.then((code) => ({ kind: 'supervisor' as const, code })),
  ]);
  const exitCode = exitCodeOf(stopReason, agent);
  logStop(stopReason, exitCode, options);
  if (stopReason.kind !== 'supervisor') {
    persister.forceNext();
    actor.send({ type: 'STOP' });
    // The agent's own status is reported (agentExitCode above), never passed on as memgov's: an
    // agent exiting 3 must not read as "restart budget spent" (docs/DESIGN.md#command-line).
  }
  actor.stop();
  signals?.dispose();
  await inspecting;
  await observers.close();
  return exitCode;
}
