// The supervisor (docs/DESIGN.md#the-pipeline): owns the sampler, the governor and the executor, wires their
// events, restarts a failed child one_for_one within a restart budget, and gives up (final state
// `failed`, the process exits non-zero) when the budget is spent. Pure like the governor: the
// side effects (reading cgroups, running actions, writing the state file, logging) are named
// actors and actions that the composition root (cli/daemon.ts) provides.
//
// Time: the supervisor's clock is the latest wall-clock time any child reported (sample times,
// action results). A crash loop that produces no samples therefore charges its restarts at one
// instant, which is exactly when the budget should trip.
import { assign, enqueueActions, fromCallback, sendParent, sendTo, setup } from 'xstate';
import type { PolicyConfig } from './config.ts';
import {
  createGovernorMachine,
  requestOf,
  type AgentStartedEvent,
  type GovernorContext,
} from './governor.machine.ts';
import { toolFieldsOf, type ActionOutcome, type PendingAction } from './records.ts';
import type { Sample } from './policy.ts';
import { chargeRestart, type RestartBudget } from './restart-budget.ts';
import { errorMessage } from '../lib/errors.ts';

export type ChildName = 'sampler' | 'governor' | 'executor';

/**
 * A child's failure, one_for_one: restart it (re-entering its `up` state runs its invoke again)
 * while the budget allows, else give up. `extra` runs between charging and logging the restart.
 */
function restartOrFail(child: ChildName, extra: readonly 'interruptPending'[] = []) {
  return [
    {
      guard: 'withinBudget',
      target: 'up',
      reenter: true,
      actions: [
        { type: 'chargeRestart', params: { child } },
        ...extra,
        { type: 'logRestart', params: { child } },
      ],
    },
    {
      target: '#supervisor.failed',
      actions: [{ type: 'recordFailure', params: { child } }],
    },
  ] as const;
}

/** Events children and the composition root send to the supervisor. */
export type SupervisorEvent =
  | { readonly type: 'SAMPLE'; readonly sample: Sample; readonly oomKills?: number }
  | { readonly type: 'SAMPLER.READ_FAILED'; readonly atMs: number; readonly detail: string }
  /** The sampler failed outside XState's reach (in a timer) and stopped itself. */
  | { readonly type: 'SAMPLER.CRASHED'; readonly detail: string }
  | {
      readonly type: 'GOVERNOR.DECIDED';
      readonly governor: GovernorContext;
      /** The sample behind this change (raw bytes for the journal); null for other changes. */
      readonly sample: Sample | null;
    }
  /** The governor dispatched an action: the supervisor hands it to the executor. */
  | { readonly type: 'ACTION.REQUESTED'; readonly request: PendingAction }
  | {
      readonly type: 'ACTION.RESULT';
      readonly seq: number;
      readonly outcome: ActionOutcome;
      readonly detail?: string;
      readonly durationMs: number;
      readonly finishedAtMs: number;
    }
  | { readonly type: 'ACTIONS.INTERRUPTED'; readonly detail: string; readonly atMs: number }
  /** The sampler saw a new agent incarnation; the governor re-arms tier 3 for it. */
  | AgentStartedEvent
  | { readonly type: 'STOP' };

/** Events the supervisor sends to the sampler. */
export type SamplerCommand =
  { readonly type: 'SCHEDULE'; readonly atMs: number } | { readonly type: 'SAMPLE_NOW' };

/** The one event the supervisor sends to the executor. */
export interface ExecuteCommand {
  readonly type: 'EXECUTE';
  readonly request: PendingAction;
}

export interface SupervisorContext {
  /** Latest wall-clock time reported by any child (ms). */
  readonly clockMs: number;
  /** Times of recent child restarts, for the budget. */
  readonly restartsMs: readonly number[];
  /** Restart count per child since start, for metrics and status. */
  readonly restarts: Readonly<Record<ChildName, number>>;
  /** The governor's last context: restarted governors resume from it, never from scratch. */
  readonly governor: GovernorContext | null;
  readonly failure: { readonly child: ChildName; readonly detail: string } | null;
}

export interface SupervisorInput {
  /** Governor context to resume from (a restored state file), or null for a fresh start. */
  readonly governor: GovernorContext | null;
}

export interface SupervisorOptions {
  readonly policy: PolicyConfig;
  readonly budget: RestartBudget;
}

/** Side effects the composition root provides; the defaults do nothing (tests, diagrams). */
const noop = (): void => undefined;

export function createSupervisorMachine(options: SupervisorOptions) {
  // The governor tells its supervisor about every change of its context, and hands over each
  // action it dispatches.
  const governorLogic = createGovernorMachine(options.policy).provide({
    actions: {
      notify: sendParent(({ context, event }) => ({
        type: 'GOVERNOR.DECIDED',
        governor: context,
        sample: event.type === 'SAMPLE' ? event.sample : null,
      })),
      forwardRequest: enqueueActions(({ context, enqueue }) => {
        const requested = requestOf(context);
        if (requested === null) return;
        const { seq, action, atMs, ratio, usedBytes, limitBytes, earlierTier3AtMs } = requested;
        const request = {
          ...{ seq, action, atMs, ratio, usedBytes, limitBytes },
          ...toolFieldsOf(requested),
          ...(earlierTier3AtMs === undefined ? {} : { earlierTier3AtMs }),
        };
        enqueue.sendParent({ type: 'ACTION.REQUESTED', request });
      }),
    },
  });

  return setup({
    types: {
      context: {} as SupervisorContext,
      events: {} as SupervisorEvent,
      input: {} as SupervisorInput,
    },
    actors: {
      sampler: fromCallback<SamplerCommand, { firstSampleAtMs: number }>(noop),
      executor: fromCallback<ExecuteCommand>(noop),
      governor: governorLogic,
    },
    guards: {
      withinBudget: ({ context }) =>
        chargeRestart(context.restartsMs, context.clockMs, options.budget).allowed,
    },
    actions: {
      /** Writes the whole system snapshot; provided by the composition root. */
      persist: () => undefined,
      /** Logs and counts a decision; provided by the composition root. */
      report: () => undefined,
      /** Logs an action's result; provided by the composition root. */
      reportResult: () => undefined,
      /** Logs a cgroup read failure; provided by the composition root. */
      logReadFailure: () => undefined,
      logRestart: (_, params: { child: ChildName }) => void params,
      /**
       * A restarted executor has lost whatever it was doing: tell the governor those actions were
       * interrupted (they still count as dispatched), and never hand them over again.
       */
      /**
       * A restarted executor has lost whatever it was doing: tell the governor those actions were
       * interrupted (they still count as dispatched; they are never handed over again).
       */
      interruptPending: sendTo('governor', ({ context }) => ({
        type: 'ACTIONS.INTERRUPTED' as const,
        detail: 'the executor failed and was restarted',
        atMs: context.clockMs,
      })),
      chargeRestart: assign(({ context }, params: { child: ChildName }) => ({
        restartsMs: chargeRestart(context.restartsMs, context.clockMs, options.budget).recentMs,
        restarts: { ...context.restarts, [params.child]: context.restarts[params.child] + 1 },
      })),
      recordFailure: assign(({ event }, params: { child: ChildName }) => ({
        failure: {
          child: params.child,
          detail:
            event.type === 'SAMPLER.CRASHED'
              ? event.detail
              : errorMessage((event as unknown as { error?: unknown }).error),
        },
      })),
      advanceClock: assign(({ context, event }) => {
        const atMs =
          event.type === 'SAMPLE'
            ? event.sample.t
            : event.type === 'SAMPLER.READ_FAILED'
              ? event.atMs
              : event.type === 'ACTION.RESULT'
                ? event.finishedAtMs
                : context.clockMs;
        return {
          clockMs: Number.isFinite(atMs) ? Math.max(context.clockMs, atMs) : context.clockMs,
        };
      }),
      forwardToGovernor: sendTo('governor', ({ event }) => event),
      recordGovernor: assign(({ event }) =>
        event.type === 'GOVERNOR.DECIDED' ? { governor: event.governor } : {},
      ),
      /** Arms the sampler for the deadline the governor asked for. */
      scheduleSample: sendTo('sampler', ({ context }) => ({
        type: 'SCHEDULE' as const,
        atMs:
          context.governor?.decision?.nextSampleAtMs ?? context.clockMs + options.policy.minPollMs,
      })),
      handOver: sendTo('executor', ({ event }) => ({
        type: 'EXECUTE' as const,
        request: (event as Extract<SupervisorEvent, { type: 'ACTION.REQUESTED' }>).request,
      })),
      retryRead: sendTo('sampler', ({ context }) => ({
        type: 'SCHEDULE',
        atMs: context.clockMs + options.policy.minPollMs,
      })),
      sampleNow: sendTo('sampler', { type: 'SAMPLE_NOW' }),
    },
  }).createMachine({
    id: 'supervisor',
    context: ({ input }) => ({
      clockMs: 0,
      restartsMs: [],
      restarts: { sampler: 0, governor: 0, executor: 0 },
      governor: input.governor,
      failure: null,
    }),
    initial: 'running',
    states: {
      running: {
        type: 'parallel',
        on: {
          SAMPLE: { actions: ['advanceClock', 'forwardToGovernor'] },
          'SAMPLER.READ_FAILED': { actions: ['advanceClock', 'logReadFailure', 'retryRead'] },
          // The governor sends DECIDED before REQUESTED: an action is on disk before it runs.
          'GOVERNOR.DECIDED': {
            actions: ['recordGovernor', 'persist', 'report', 'scheduleSample'],
          },
          'ACTION.REQUESTED': { actions: 'handOver' },
          'ACTION.RESULT': {
            actions: ['advanceClock', 'forwardToGovernor', 'reportResult', 'sampleNow'],
          },
          // Sent once after a restore: what was in flight when memgov stopped is not run again.
          'ACTIONS.INTERRUPTED': { actions: ['forwardToGovernor'] },
          'AGENT.STARTED': { actions: ['forwardToGovernor'] },
          STOP: { target: 'stopped' },
        },
        states: {
          // Order matters: the sampler starts last, so its first sample finds a governor.
          governor: {
            initial: 'up',
            states: {
              up: {
                invoke: {
                  id: 'governor',
                  src: 'governor',
                  input: ({ context }) => ({ resume: context.governor }),
                  onError: restartOrFail('governor'),
                },
              },
            },
          },
          executor: {
            initial: 'up',
            states: {
              up: {
                invoke: {
                  id: 'executor',
                  src: 'executor',
                  onError: restartOrFail('executor', ['interruptPending']),
                },
              },
            },
          },
          sampler: {
            initial: 'up',
            states: {
              up: {
                invoke: {
                  id: 'sampler',
                  src: 'sampler',
                  input: ({ context }) => ({
                    // Re-arm the deadline the governor last asked for (timers are not persisted).
                    firstSampleAtMs: context.governor?.decision?.nextSampleAtMs ?? 0,
                  }),
                  onError: restartOrFail('sampler'),
                },
                on: {
                  'SAMPLER.CRASHED': restartOrFail('sampler'),
                },
              },
            },
          },
        },
      },
      stopped: { type: 'final', entry: 'persist' },
      failed: { type: 'final', entry: 'persist' },
    },
  });
}

export type SupervisorMachine = ReturnType<typeof createSupervisorMachine>;
