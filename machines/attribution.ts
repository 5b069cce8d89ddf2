// Whose memory it is (docs/DESIGN.md#whose-memory-it-is), as a pure function over the processes
// of the cgroup: the agent process itself, each child subtree of the agent (a child and all its
// descendants, whether or not it has a process group of its own), memgov, and the rest. The
// largest child subtree is the tool the sample carries and the stop-tool rung may stop.

import type { ProcessShare } from '../lib/process-share.ts';

export type { ProcessShare } from '../lib/process-share.ts';

/** A child subtree of the agent: its root process, the root's process group, the bytes of all. */
export interface ToolUse {
  readonly pid: number;
  readonly pgid: number;
  /** The root's start time (/proc/PID/stat field 22), so a recycled pid is never taken for it. */
  readonly startTicks: number;
  readonly bytes: number;
  /** The root's command name as the kernel keeps it (comm); may hold any character but NUL. */
  readonly command: string;
}

export interface Attribution {
  readonly agentBytes: number;
  readonly memgovBytes: number;
  /** Everything in the cgroup that is neither the agent, its subtrees, nor memgov. */
  readonly restBytes: number;
  /** The agent's child subtrees, largest first. */
  readonly tools: readonly ToolUse[];
  /** The pids of each subtree, in the order of `tools`. */
  readonly toolPids: readonly (readonly number[])[];
}

/**
 * The processes whose Pss decides the result, at most `budget` of them: the agent, then the
 * members of the `topSubtrees` largest subtrees (by the cheap Rss pass), largest process first.
 * Pss is at most Rss, so a subtree outside the top few by Rss rarely wins by Pss; the others
 * keep their Rss.
 */
export function pssCandidates(
  processes: readonly ProcessShare[],
  byRss: Attribution,
  agentPid: number | null,
  options: { readonly topSubtrees: number; readonly budget: number },
): number[] {
  const bytes = new Map(processes.map((p) => [p.pid, p.bytes]));
  const members = byRss.toolPids
    .slice(0, options.topSubtrees)
    .flat()
    .sort((a, b) => (bytes.get(b) ?? 0) - (bytes.get(a) ?? 0));
  const pids = agentPid !== null && bytes.has(agentPid) ? [agentPid, ...members] : members;
  return pids.slice(0, options.budget);
}

/** The processes with the Pss read for some of them (`pssOf`: pid -> bytes, when read). */
export function withPss(
  processes: readonly ProcessShare[],
  pssOf: ReadonlyMap<number, number>,
): ProcessShare[] {
  return processes.map((p) => {
    const pss = pssOf.get(p.pid);
    return pss === undefined ? p : { ...p, bytes: pss };
  });
}

/**
 * The pids of `rootPid`'s subtree (itself included) among `children`, never the excluded ones;
 * every parent comes before its children.
 */
function subtreeOf(
  rootPid: number,
  children: ReadonlyMap<number, readonly number[]>,
  excluded: ReadonlySet<number>,
): number[] {
  const seen = new Set<number>();
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    if (seen.has(pid) || excluded.has(pid)) continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

/** Groups the cgroup's processes by whose they are; `agentPid` null: no agent known, no tools. */
export function attribute(
  processes: readonly ProcessShare[],
  agentPid: number | null,
  memgovPid: number,
): Attribution {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const children = new Map<number, number[]>();
  for (const p of processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const bytesOf = (pid: number | null): number => (pid === null ? 0 : (byPid.get(pid)?.bytes ?? 0));
  const excluded = new Set([memgovPid, ...(agentPid === null ? [] : [agentPid])]);
  const subtrees: { tool: ToolUse; pids: number[] }[] = [];
  const agentChildren = agentPid === null || !byPid.has(agentPid) ? [] : children.get(agentPid);
  for (const rootPid of agentChildren ?? []) {
    const root = byPid.get(rootPid);
    if (root === undefined || excluded.has(rootPid)) continue;
    const pids = subtreeOf(rootPid, children, excluded);
    const bytes = pids.reduce((sum, pid) => sum + bytesOf(pid), 0);
    const { pid, pgrp: pgid, startTicks, comm: command } = root;
    subtrees.push({ tool: { pid, pgid, startTicks, bytes, command }, pids });
  }
  subtrees.sort((a, b) => b.tool.bytes - a.tool.bytes || a.tool.pid - b.tool.pid);
  const tools = subtrees.map((s) => s.tool);
  const totalBytes = processes.reduce((sum, p) => sum + p.bytes, 0);
  const agentBytes = agentPid === memgovPid ? 0 : bytesOf(agentPid);
  const memgovBytes = bytesOf(memgovPid);
  const toolBytes = tools.reduce((sum, t) => sum + t.bytes, 0);
  return {
    agentBytes,
    memgovBytes,
    restBytes: Math.max(0, totalBytes - agentBytes - memgovBytes - toolBytes),
    tools,
    toolPids: subtrees.map((s) => s.pids),
  };
}

/** How the stop-tool rung signals a subtree (docs/DESIGN.md#whose-memory-it-is). */
export interface ToolStopPlan {
  /** The root's own process group, when it leads one that holds no agent and no memgov. */
  readonly group: number | null;
  /** Processes signalled one by one (not in `group`), children before their parents. */
  readonly pids: readonly ProcessShare[];
  /** Every process of the subtree, to wait for. */
  readonly members: readonly ProcessShare[];
}

/**
 * The processes of the tool's subtree now and how to signal them: through the root's process
 * group when it leads one that holds neither the agent nor memgov, plus each member outside that
 * group; else each member, children first. Null when the root is gone (or its pid reused).
 */
export function planToolStop(
  processes: readonly ProcessShare[],
  tool: Pick<ToolUse, 'pid' | 'startTicks'>,
  agentPid: number | null,
  memgovPid: number,
): ToolStopPlan | null {
  const root = processes.find((p) => p.pid === tool.pid && p.startTicks === tool.startTicks);
  if (root === undefined) return null;
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const children = new Map<number, number[]>();
  for (const p of processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const excluded = new Set([memgovPid, ...(agentPid === null ? [] : [agentPid])]);
  const members = subtreeOf(root.pid, children, excluded).flatMap((pid) => byPid.get(pid) ?? []);
  const groupIsTheTools =
    root.pgrp === root.pid && !processes.some((p) => p.pgrp === root.pgrp && excluded.has(p.pid));
  const group = groupIsTheTools ? root.pgrp : null;
  const pids = members.filter((p) => p.pgrp !== group).reverse();
  return { group, pids, members };
}
