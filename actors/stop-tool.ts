// The stop-tool rung (docs/DESIGN.md#whose-memory-it-is): the agent's largest child subtree holds
// the memory, so that subtree is stopped and the agent and its context are left alone (it sees
// its tool fail). SIGTERM through the tool's own process group when it has one that holds no
// agent and no memgov, else to each verified PID of the subtree, children first; SIGKILL to what
// is left after agent.toolKillAfterMs. Every PID is verified by its start time right before each
// signal (adapters/proc.ts), so a recycled PID is never signalled. Never throws.
import { readProcessTable } from '../adapters/proc-memory.ts';
import { formatProcError, hasExited, signalVerified, type SignalName } from '../adapters/proc.ts';
import { planToolStop, type ProcessShare, type ToolStopPlan } from '../machines/attribution.ts';
import type { PendingAction } from '../machines/records.ts';
import { quoteValue } from '../lib/quote.ts';
import { pause } from '../lib/time.ts';
import type { AgentHandle } from './agent.ts';
import type { PerformResult } from './executor.ts';
import type { Log } from './log.ts';

export interface StopToolDeps {
  readonly agent: AgentHandle;
  readonly log: Log;
  readonly killAfterMs: number;
  /** Stands in for /proc (tests); default /proc. */
  readonly procRoot?: string;
  /** memgov's pid (default process.pid): never in a signalled group, never signalled. */
  readonly memgovPid?: number;
}

const EXIT_POLL_MS = 50;
/** After SIGKILL the kernel needs no more than this to reap a subtree (measured: < 100 ms). */
const AFTER_KILL_WAIT_MS = 2_000;

/** Sends `signal` to the plan's group (through its verified leader) and to each listed PID. */
function signalPlan(plan: ToolStopPlan, signal: SignalName, procRoot?: string): string[] {
  const failures: string[] = [];
  const send = (p: ProcessShare, group: boolean): void => {
    const sent = signalVerified(p, signal, { group, ...(procRoot ? { procRoot } : {}) });
    if (sent.isErr() && sent.error.kind !== 'gone') failures.push(formatProcError(sent.error));
  };
  const leader = plan.members.find((p) => p.pid === plan.group);
  if (leader !== undefined) send(leader, true);
  for (const p of plan.pids) send(p, false);
  return failures;
}

/** Waits until every member has exited (a zombie counts), `ms` passed, or `signal` aborted. */
async function waitForMembers(
  plan: ToolStopPlan,
  ms: number,
  abort: AbortSignal,
  procRoot?: string,
): Promise<ProcessShare[]> {
  const deadline = performance.now() + ms;
  for (;;) {
    const alive = plan.members.filter((p) => !hasExited(p, procRoot));
    if (alive.length === 0 || abort.aborted || performance.now() >= deadline) return alive;
    await pause(Math.min(EXIT_POLL_MS, Math.max(1, deadline - performance.now())), abort);
  }
}

function describeTool(request: PendingAction): string {
  const tool = request.tool;
  if (tool === undefined) return 'the tool';
  return `tool ${quoteValue(tool.command)} (pid ${tool.pid}, pgid ${tool.pgid}, ${tool.bytes} bytes)`;
}

/** Carries out one stop-tool request; see the file comment. */
export async function stopTool(
  request: PendingAction,
  abort: AbortSignal,
  deps: StopToolDeps,
): Promise<PerformResult> {
  const { tool } = request;
  if (tool === undefined) return { outcome: 'failed', detail: 'stop-tool without a tool' };
  const memgovPid = deps.memgovPid ?? process.pid;
  const table = readProcessTable(deps.procRoot);
  const plan = planToolStop(table, tool, deps.agent.identity()?.pid ?? null, memgovPid);
  const what = describeTool(request);
  if (plan === null) return { outcome: 'skipped', detail: `${what} exited before it was stopped` };
  const how = plan.group === null ? `${plan.pids.length} pids` : `process group ${plan.group}`;
  const failures = signalPlan(plan, 'SIGTERM', deps.procRoot);
  let alive = await waitForMembers(plan, deps.killAfterMs, abort, deps.procRoot);
  const killed = alive.length > 0;
  if (killed) {
    failures.push(...signalPlan({ ...plan, members: alive }, 'SIGKILL', deps.procRoot));
    alive = await waitForMembers(
      { ...plan, members: alive },
      AFTER_KILL_WAIT_MS,
      new AbortController().signal,
      deps.procRoot,
    );
  }
  const fields = { command: tool.command, pid: tool.pid, pgid: tool.pgid, bytes: tool.bytes };
  deps.log.info('tool stopped', {
    ...fields,
    processes: plan.members.length,
    signalled: how,
    killed,
    left: alive.length,
  });
  const steps = `SIGTERM to ${how}${killed ? `, SIGKILL after ${deps.killAfterMs} ms` : ''}`;
  const problems = failures.length > 0 ? `; ${failures.join('; ')}` : '';
  if (alive.length > 0) {
    return {
      outcome: 'failed',
      detail: `${what}: ${steps}; ${alive.length} processes still running${problems}`,
    };
  }
  return {
    outcome: 'ok',
    detail: `${what}: ${steps}; all ${plan.members.length} processes exited${problems}`,
  };
}
