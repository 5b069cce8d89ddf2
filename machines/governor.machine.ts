// The governor statechart (docs/DESIGN.md#the-policy). Each SAMPLE runs the pure `decide` once; the three
// parallel regions then follow the remembered ladder facts, so tiers, the compact window and
// the polling speeds are explicit, named states (in the inspector, the diagram and the state
// value) while the rules live in one tested function. Pure: no I/O, no clock, no timers; the
// next sample's wall-clock deadline is kept in context so a restored snapshot re-arms it.
import { assign, enqueueActions, setup } from 'xstate';
import type { PolicyConfig } from './config.ts';
import {
  agentStarted,
  decide,
  incarnationKey,
  INITIAL_FACTS,
  ladderStateOf,
  type Decision,
  type LadderFacts,
  type LadderState,
  type Sample,
  type Speed,
} from './policy.ts';
import {
  appendDispatched,
  applyAfter,
  applyOomCounter,
  applyResult,
  INITIAL_OOM,
  interruptPending,
  pendingOf,
  tierOf,
  toolFieldsOf,
  type ActionRecord,
  type ActionResult,
  type OomRecord,
  type PendingAction,
} from './records.ts';
import { rememberTier3, tier3HistoryOf } from './relaunch.ts';

export type { ActionOutcome, ActionRecord, PendingAction } from './records.ts';

export interface GovernorContext {
  readonly facts: LadderFacts;
  /** The decision for the last sample; null before the first one. */
  readonly decision: Decision | null;
  /** Count of actions dispatched so far; each request carries its sequence number. */
  readonly actionSeq: number;
  /** The newest actions, dispatched first and completed by the executor's results. */
  readonly actions: readonly ActionRecord[];
  readonly oom: OomRecord;
  /**
   * When the latest tier 3s (archive-terminate, not a stop-tool in its place) were dispatched,
   * newest last (machines/relaunch.ts). Absent in snapshots written before the relaunch step-down.
   */
  readonly tier3AtMs?: readonly number[];
}

export type GovernorEvent =
  | {
      readonly type: 'SAMPLE';
      readonly sample: Sample;
      /** The cgroup's oom_kill counter at this sample, when the sampler read one. */
      readonly oomKills?: number;
    }
  | ({ readonly type: 'ACTION.RESULT' } & ActionResult)
  | { readonly type: 'ACTIONS.INTERRUPTED'; readonly detail: string; readonly atMs: number }
  /** A new agent incarnation: a relaunch, or a new agent PID in attach mode (re-arms tier 3). */
  | AgentStartedEvent;

export interface AgentStartedEvent {
  readonly type: 'AGENT.STARTED';
  readonly pid: number;
  /** Start time from /proc/PID/stat (clock ticks after boot): with the pid, the incarnation. */
  readonly startTicks: number;
  readonly atMs: number;
}

export interface GovernorInput {
  /** A context to resume from (restored state, or a restarted governor); null for fresh. */
  readonly resume?: GovernorContext | null;
}

/** Emitted when the governor dispatches an action; the executor carries it out. */
export interface ActionRequest extends PendingAction {
  readonly type: 'action.requested';
}

export const INITIAL_GOVERNOR_CONTEXT: GovernorContext = {
  facts: INITIAL_FACTS,
  decision: null,
  actionSeq: 0,
  actions: [],
  oom: INITIAL_OOM,
};

/** Builds the governor for one configuration; the config is part of the machine, not its state. */
export function createGovernorMachine(config: PolicyConfig) {
  // Where the regions stand is a function of the context: the ladder of (facts, the latest
  // decision's time), tier 3 and the polling speed of the facts alone. `evaluate` runs `decide`
  // once per SAMPLE; each region then follows the new context through its eventless transitions.
  const ladderIs =
    (rung: LadderState) =>
    ({ context }: { context: GovernorContext }): boolean =>
      ladderStateOf(context.facts, context.decision?.t ?? context.facts.clockMs ?? 0, config) ===
      rung;
  const pollsAt =
    (speed: Speed) =>
    ({ context }: { context: GovernorContext }): boolean =>
      context.facts.speed === speed;

  return setup({
    types: {
      context: {} as GovernorContext,
      events: {} as GovernorEvent,
      emitted: {} as ActionRequest,
    },
    guards: {
      ladderIdle: ladderIs('idle'),
      ladderCompacted: ladderIs('compacted'),
      ladderCleared: ladderIs('cleared'),
      tier3Armed: ({ context }) => context.facts.tier3Armed,
      tier3Disarmed: ({ context }) => !context.facts.tier3Armed,
      pollsRelaxed: pollsAt('relaxed'),
      pollsFast: pollsAt('fast'),
      pollsUrgent: pollsAt('urgent'),
    },
    actions: {
      evaluate: assign(({ context, event }) => {
        if (event.type !== 'SAMPLE') return {};
        const { decision, facts } = decide(context.facts, event.sample, config);
        const seq = decision.action === null ? context.actionSeq : context.actionSeq + 1;
        const pending = pendingOf(decision, seq);
        return {
          facts,
          decision,
          actionSeq: seq,
          // The sample that dispatches the next rung is also the first after the last action:
          // it measures that action's effect first (else a compact followed at once by a clear
          // never had its effect logged: the real-claude cgroup test waited for it in vain).
          actions:
            pending === null
              ? applyAfter(context.actions, decision)
              : appendDispatched(applyAfter(context.actions, decision), pending),
          oom:
            event.oomKills === undefined
              ? context.oom
              : applyOomCounter(
                  context.oom,
                  event.oomKills,
                  decision.t,
                  tierOf(context.facts, decision.t, config),
                ),
          ...(decision.action === 'archive-terminate'
            ? { tier3AtMs: rememberTier3(tier3HistoryOf(context), decision.t) }
            : {}),
        };
      }),
      recordAgentStarted: assign(({ context, event }) =>
        event.type === 'AGENT.STARTED'
          ? { facts: agentStarted(context.facts, incarnationKey(event)) }
          : {},
      ),
      recordResult: assign(({ context, event }) =>
        event.type === 'ACTION.RESULT' ? { actions: applyResult(context.actions, event) } : {},
      ),
      recordInterrupted: assign(({ context, event }) =>
        event.type === 'ACTIONS.INTERRUPTED'
          ? { actions: interruptPending(context.actions, event.detail) }
          : {},
      ),
      /**
       * Tells a supervisor about every change of the context; a no-op here, provided by the
       * supervisor, which takes the sample (the journal's raw bytes) from a SAMPLE event itself.
       * No action here takes params: resolving a params function per SAMPLE cost replay 8% more
       * CPU (docs/BENCHMARKS.md, "The redesign against the build before it").
       */
      notify: () => undefined,
      /** Emits the action this sample dispatched (replay and tests listen with `on`). */
      requestAction: enqueueActions(({ context, enqueue }) => {
        const request = requestOf(context);
        if (request !== null) enqueue.emit(request);
      }),
      /**
       * Hands the action this sample dispatched to whoever carries it out: a no-op here, the
       * supervisor provides it. With `requestAction` this is the one action channel.
       */
      forwardRequest: () => undefined,
    },
  }).createMachine({
    id: 'governor',
    type: 'parallel',
    // Input is optional (replay and tests start fresh), so it is read loosely here.
    context: ({ input }) =>
      (input as GovernorInput | undefined)?.resume ?? INITIAL_GOVERNOR_CONTEXT,
    on: {
      // Persist (notify) before the request goes out: an action is on disk before it runs.
      SAMPLE: {
        actions: ['evaluate', 'notify', 'requestAction', 'forwardRequest'],
      },
      'ACTION.RESULT': { actions: ['recordResult', 'notify'] },
      'AGENT.STARTED': {
        actions: ['recordAgentStarted', 'notify'],
      },
      'ACTIONS.INTERRUPTED': {
        actions: ['recordInterrupted', 'notify'],
      },
    },
    states: {
      ladder: {
        initial: 'idle',
        states: {
          idle: {
            description: 'No compact in the window: tier 1 compacts at compactAt.',
            always: [
              { guard: 'ladderCompacted', target: 'compacted' },
              { guard: 'ladderCleared', target: 'cleared' },
            ],
          },
          compacted: {
            description: 'Compact window open: tier 2 clears if memory still climbs past clearAt.',
            always: [
              { guard: 'ladderCleared', target: 'cleared' },
              { guard: 'ladderIdle', target: 'idle' },
            ],
          },
          cleared: {
            description: 'Cleared since the compact: only tier 3 is left in this window.',
            always: [
              { guard: 'ladderCompacted', target: 'compacted' },
              { guard: 'ladderIdle', target: 'idle' },
            ],
          },
        },
      },
      tier3: {
        initial: 'armed',
        states: {
          armed: {
            description: 'Archive-terminate fires at terminateAt inside a compact window.',
            always: { guard: 'tier3Disarmed', target: 'disarmed' },
          },
          disarmed: {
            description:
              'Fired; re-arms once a ratio below compactAt is seen or a new agent incarnation starts.',
            always: { guard: 'tier3Armed', target: 'armed' },
          },
        },
      },
      polling: {
        initial: 'relaxed',
        states: {
          relaxed: {
            description: 'Below fastPollAt: at most relaxedPollMs, shortened by headroom.',
            always: [
              { guard: 'pollsFast', target: 'fast' },
              { guard: 'pollsUrgent', target: 'urgent' },
            ],
          },
          fast: {
            description: 'At or above fastPollAt: at most fastPollMs.',
            always: [
              { guard: 'pollsRelaxed', target: 'relaxed' },
              { guard: 'pollsUrgent', target: 'urgent' },
            ],
          },
          urgent: {
            description: 'Growth projects the limit within two intervals: urgentPollMs.',
            always: [
              { guard: 'pollsRelaxed', target: 'relaxed' },
              { guard: 'pollsFast', target: 'fast' },
            ],
          },
        },
      },
    },
  });
}

/** The request for the action the latest decision dispatched, or null when it dispatched none. */
export function requestOf(context: GovernorContext): ActionRequest | null {
  const { decision } = context;
  if (decision === null || decision.action === null) return null;
  return {
    type: 'action.requested',
    seq: context.actionSeq,
    action: decision.action,
    atMs: decision.t,
    ratio: decision.ratio,
    usedBytes: decision.usedBytes,
    limitBytes: decision.limitBytes,
    ...toolFieldsOf(decision),
    // The relaunch after it steps down by the tier 3s before this one (machines/relaunch.ts).
    ...(decision.action === 'archive-terminate'
      ? { earlierTier3AtMs: tier3HistoryOf(context).slice(0, -1) }
      : {}),
  };
}

export type GovernorMachine = ReturnType<typeof createGovernorMachine>;

/** The state value as one stable string, e.g. `ladder.compacted,tier3.armed,polling.fast`. */
export function stateString(value: unknown): string {
  const parts: string[] = [];
  const walk = (node: unknown, prefix: string): void => {
    if (typeof node === 'string') {
      parts.push(prefix === '' ? node : `${prefix}.${node}`);
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node))
        walk(child, prefix === '' ? key : `${prefix}.${key}`);
    }
  };
  walk(value, '');
  return parts.join(',');
}
