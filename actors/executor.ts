// The executor actor: carries out the governor's actions one at a time and reports each result.
// A tier-3 request never waits behind a slower rung: it supersedes an action still in progress
// (the agent may take minutes to compact, and at 90% there are not minutes left).
import { fromCallback } from 'xstate';
import type { ActionOutcome, PendingAction } from '../machines/records.ts';
import type { ExecuteCommand } from '../machines/supervisor.machine.ts';
import { errorMessage } from '../lib/errors.ts';

export interface PerformResult {
  readonly outcome: ActionOutcome;
  readonly detail?: string;
}

export interface ExecutorPorts {
  /**
   * Carries out one action against the agent. Resolves (never rejects, though a rejection is
   * recorded as `failed`) when done; stops early and resolves when `signal` aborts.
   */
  readonly perform: (request: PendingAction, signal: AbortSignal) => Promise<PerformResult>;
  /** Wall-clock milliseconds. */
  readonly now: () => number;
}

export function createExecutorLogic(ports: ExecutorPorts) {
  return fromCallback<ExecuteCommand>(({ sendBack, receive }) => {
    const queue: PendingAction[] = [];
    let current: { request: PendingAction; abort: AbortController } | null = null;
    let stopped = false;

    const runNext = (): void => {
      if (current !== null || stopped) return;
      const request = queue.shift();
      if (request === undefined) return;
      const abort = new AbortController();
      current = { request, abort };
      const startedMs = ports.now();
      const finish = (result: PerformResult): void => {
        const finishedAtMs = ports.now();
        const superseded = abort.signal.aborted && abort.signal.reason === 'superseded';
        current = null;
        if (stopped) return;
        sendBack({
          type: 'ACTION.RESULT',
          seq: request.seq,
          outcome: superseded ? 'superseded' : result.outcome,
          ...(result.detail === undefined ? {} : { detail: result.detail }),
          durationMs: finishedAtMs - startedMs,
          finishedAtMs,
        });
        runNext();
      };
      ports.perform(request, abort.signal).then(finish, (error: unknown) =>
        finish({
          outcome: 'failed',
          detail: errorMessage(error),
        }),
      );
    };

    receive(({ request }) => {
      if (request.action === 'archive-terminate') {
        // Queued lesser rungs are moot once tier 3 is due; the one in progress is cut short.
        for (const dropped of queue.splice(0)) {
          sendBack({
            type: 'ACTION.RESULT',
            seq: dropped.seq,
            outcome: 'superseded',
            detail: 'tier 3 was dispatched before this action started',
            durationMs: 0,
            finishedAtMs: ports.now(),
          });
        }
        if (current !== null && current.request.action !== 'archive-terminate') {
          current.abort.abort('superseded');
        }
      }
      queue.push(request);
      runNext();
    });

    return () => {
      stopped = true;
      current?.abort.abort('stopped');
    };
  });
}
