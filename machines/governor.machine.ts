// The governor statechart (SPEC section 3). Each SAMPLE runs the pure `decide` once; the three
// parallel regions then follow the remembered ladder facts, so tiers, the compact window and
// the polling speeds are explicit, named states (in the inspector, the diagram and the state
// value) while the rules live in one tested function. Pure: no I/O, no clock, no timers; the
// next sample's wall-clock deadline is kept in context so a restored snapshot re-arms it.
import { assign, enqueueActions, setup } from 'xstate';
import type { PolicyConfig } from './config.ts';
import {
  decide,
  INITIAL_FACTS,
  ladderStateOf,
  type Action,
  type Decision,
  type LadderFacts,
  type LadderState,
  type Sample,
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
  type ActionRecord,
  type ActionResult,
  type OomRecord,
} from './records.ts';

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
}

export type GovernorEvent =
  | {
      readonly type: 'SAMPLE';
      readonly sample: Sample;
      /** The cgroup's oom_kill counter at this sample, when the sampler read one. */
      readonly oomKills?: number;
    }
  | ({ readonly type: 'ACTION.RESULT' } & ActionResult)
  | { readonly type: 'ACTIONS.INTERRUPTED'; readonly detail: string; readonly atMs: number };

export interface GovernorInput {
  /** A context to resume from (restored state, or a restarted governor); null for fresh. */
  readonly resume?: GovernorContext | null;
}

/** Emitted when the governor dispatches an action; the executor carries it out. */
export interface ActionRequest {
  readonly type: 'action.requested';
  readonly seq: number;
  readonly action: Action;
  readonly atMs: number;
  readonly ratio: number;
}

export const INITIAL_GOVERNOR_CONTEXT: GovernorContext = {
  facts: INITIAL_FACTS,
  decision: null,
  actionSeq: 0,
  actions: [],
  oom: INITIAL_OOM,
};

const POLL_GUARDS = { relaxed: 'pollsRelaxed', fast: 'pollsFast', urgent: 'pollsUrgent' } as const;

/** A polling state's SAMPLE transitions: evaluate, and move to the speed the decision chose. */
function evaluateThenPoll(others: readonly ('relaxed' | 'fast' | 'urgent')[]) {
  const actions = ['evaluate', 'requestAction', 'notify'] as const;
  return [
    ...others.map((speed) => ({ guard: POLL_GUARDS[speed], target: speed, actions })),
    { actions },
  ];
}

/** Builds the governor for one configuration; the config is part of the machine, not its state. */
export function createGovernorMachine(config: PolicyConfig) {
  // Guards in every region and the assign all need the decision for the same (facts, sample):
  // compute it once per event. Guards run before any action, so all see the pre-sample facts.
  let memoFacts: LadderFacts | null = null;
  let memoSample: Sample | null = null;
  let memoResult: ReturnType<typeof decide> | null = null;
  const outcome = (context: GovernorContext, event: GovernorEvent): ReturnType<typeof decide> => {
    const sample = (event as { sample: Sample }).sample;
    if (memoResult === null || memoFacts !== context.facts || memoSample !== sample) {
      memoResult = decide(context.facts, sample, config);
      memoFacts = context.facts;
      memoSample = sample;
    }
    return memoResult;
  };
  const ladderAfter = (context: GovernorContext, event: GovernorEvent): LadderState => {
    const { facts, decision } = outcome(context, event);
    return ladderStateOf(facts, decision.t, config);
  };

  const ladderNow = (context: GovernorContext): LadderState =>
    ladderStateOf(context.facts, context.decision?.t ?? context.facts.clockMs ?? 0, config);

  return setup({
    types: {
      context: {} as GovernorContext,
      events: {} as GovernorEvent,
      emitted: {} as ActionRequest,
    },
    guards: {
      becomesIdle: ({ context, event }) => ladderAfter(context, event) === 'idle',
      becomesCompacted: ({ context, event }) => ladderAfter(context, event) === 'compacted',
      becomesCleared: ({ context, event }) => ladderAfter(context, event) === 'cleared',
      decidesTerminate: ({ context, event }) =>
        outcome(context, event).decision.action === 'archive-terminate',
      rearmsTier3: ({ context, event }) => outcome(context, event).facts.tier3Armed,
      pollsRelaxed: ({ context, event }) => outcome(context, event).facts.speed === 'relaxed',
      pollsFast: ({ context, event }) => outcome(context, event).facts.speed === 'fast',
      pollsUrgent: ({ context, event }) => outcome(context, event).facts.speed === 'urgent',
      // Resuming from a context (a restart): each region starts where its facts say.
      resumesCompacted: ({ context }) => ladderNow(context) === 'compacted',
      resumesCleared: ({ context }) => ladderNow(context) === 'cleared',
      resumesDisarmed: ({ context }) => !context.facts.tier3Armed,
      resumesFast: ({ context }) => context.facts.speed === 'fast',
      resumesUrgent: ({ context }) => context.facts.speed === 'urgent',
    },
    actions: {
      evaluate: assign(({ context, event }) => {
        const { decision, facts } = outcome(context, event);
        const seq = decision.action === null ? context.actionSeq : context.actionSeq + 1;
        const pending = pendingOf(decision, seq);
        const oomKills = event.type === 'SAMPLE' ? event.oomKills : undefined;
        return {
          facts,
          decision,
          actionSeq: seq,
          actions:
            pending === null
              ? applyAfter(context.actions, decision)
              : appendDispatched(context.actions, pending),
          oom:
            oomKills === undefined
              ? context.oom
              : applyOomCounter(
                  context.oom,
                  oomKills,
                  decision.t,
                  tierOf(context.facts, decision.t, config),
                ),
        };
      }),
      recordResult: assign(({ context, event }) =>
        event.type === 'ACTION.RESULT' ? { actions: applyResult(context.actions, event) } : {},
      ),
      recordInterrupted: assign(({ context, event }) =>
        event.type === 'ACTIONS.INTERRUPTED'
          ? { actions: interruptPending(context.actions, event.detail) }
          : {},
      ),
      /** Tells a supervisor about every change; a no-op here, provided by the supervisor. */
      notify: () => undefined,
      requestAction: enqueueActions(({ context, enqueue }) => {
        const decision = context.decision;
        if (decision === null || decision.action === null) return;
        enqueue.emit({
          type: 'action.requested',
          seq: context.actionSeq,
          action: decision.action,
          atMs: decision.t,
          ratio: decision.ratio,
        });
      }),
    },
  }).createMachine({
    id: 'governor',
    type: 'parallel',
    // Input is optional (replay and tests start fresh), so it is read loosely here.
    context: ({ input }) =>
      (input as GovernorInput | undefined)?.resume ?? INITIAL_GOVERNOR_CONTEXT,
    on: {
      'ACTION.RESULT': { actions: ['recordResult', 'notify'] },
      'ACTIONS.INTERRUPTED': { actions: ['recordInterrupted', 'notify'] },
    },
    states: {
      ladder: {
        initial: 'resume',
        states: {
          resume: {
            description: 'Transient: a resumed governor starts at the rung its facts record.',
            always: [
              { guard: 'resumesCompacted', target: 'compacted' },
              { guard: 'resumesCleared', target: 'cleared' },
              { target: 'idle' },
            ],
          },
          idle: {
            description: 'No compact in the window: tier 1 compacts at compactAt.',
            on: { SAMPLE: { guard: 'becomesCompacted', target: 'compacted' } },
          },
          compacted: {
            description: 'Compact window open: tier 2 clears if memory still climbs past clearAt.',
            on: {
              SAMPLE: [
                { guard: 'becomesCleared', target: 'cleared' },
                { guard: 'becomesIdle', target: 'idle' },
              ],
            },
          },
          cleared: {
            description: 'Cleared since the compact: only tier 3 is left in this window.',
            on: {
              SAMPLE: [
                { guard: 'becomesCompacted', target: 'compacted' },
                { guard: 'becomesIdle', target: 'idle' },
              ],
            },
          },
        },
      },
      tier3: {
        initial: 'resume',
        states: {
          resume: {
            description: 'Transient: a resumed governor keeps tier 3 disarmed if it was.',
            always: [{ guard: 'resumesDisarmed', target: 'disarmed' }, { target: 'armed' }],
          },
          armed: {
            description: 'Archive-terminate fires at terminateAt inside a compact window.',
            on: { SAMPLE: { guard: 'decidesTerminate', target: 'disarmed' } },
          },
          disarmed: {
            description: 'Fired; re-arms once a ratio below compactAt is seen.',
            on: { SAMPLE: { guard: 'rearmsTier3', target: 'armed' } },
          },
        },
      },
      // Every sample is evaluated here: each polling state takes SAMPLE exactly once, so the
      // assign runs once per sample whatever the other regions do.
      polling: {
        initial: 'resume',
        states: {
          resume: {
            description: 'Transient: a resumed governor polls at its last speed.',
            always: [
              { guard: 'resumesFast', target: 'fast' },
              { guard: 'resumesUrgent', target: 'urgent' },
              { target: 'relaxed' },
            ],
          },
          relaxed: {
            description: 'Below fastPollAt: at most relaxedPollMs, shortened by headroom.',
            on: { SAMPLE: evaluateThenPoll(['fast', 'urgent']) },
          },
          fast: {
            description: 'At or above fastPollAt: at most fastPollMs.',
            on: { SAMPLE: evaluateThenPoll(['relaxed', 'urgent']) },
          },
          urgent: {
            description: 'Growth projects the limit within two intervals: urgentPollMs.',
            on: { SAMPLE: evaluateThenPoll(['relaxed', 'fast']) },
          },
        },
      },
    },
  });
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
