// The processes under a pid (docs/AGENTS.md, "Which process is the agent"): a tmux pane often
// runs a shell or a wrapper that started the agent CLI, so the pane's own pid is not the agent.
// Read from the ppid field of every /proc/PID/stat (the children lists under /proc/PID/task/*/
// need CONFIG_PROC_CHILDREN, which not every kernel has). Beside adapters/proc.ts, whose readers
// it uses, with the same movable root.
import { readdirSync } from 'node:fs';
import { err, ok, type Result } from 'neverthrow';
import { errnoSummary } from './errno.ts';
import { readProcStat, type ProcError, type ProcStat } from './proc.ts';

const DEFAULT_PROC_ROOT = '/proc';

/** Every live process's stat under `procRoot`; one that exits while being read is left out. */
function processStats(procRoot: string): Result<ProcStat[], ProcError> {
  let names: string[];
  try {
    names = readdirSync(procRoot).filter((name) => /^\d{1,10}$/.test(name));
  } catch (error) {
    return err({ kind: 'io', pid: 0, detail: `${procRoot}: ${errnoSummary(error)}` });
  }
  return ok(names.flatMap((name) => readProcStat(Number(name), procRoot).unwrapOr([])));
}

/**
 * `rootPid` and every process below it, parents before children (breadth first), each with its
 * stat as read now. Gone when `rootPid` itself is not running.
 */
export function processTree(
  rootPid: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): Result<ProcStat[], ProcError> {
  const root = readProcStat(rootPid, procRoot);
  if (root.isErr()) return err(root.error);
  const all = processStats(procRoot);
  if (all.isErr()) return err(all.error);
  const childrenOf = new Map<number, ProcStat[]>();
  for (const stat of all.value) {
    if (stat.pid === rootPid) continue;
    childrenOf.set(stat.ppid, [...(childrenOf.get(stat.ppid) ?? []), stat]);
  }
  const found = [root.value];
  for (let i = 0; i < found.length; i += 1) {
    const parent = found[i] as ProcStat;
    const children = (childrenOf.get(parent.pid) ?? []).sort((a, b) => a.pid - b.pid);
    found.push(...children.filter((child) => !found.some((seen) => seen.pid === child.pid)));
  }
  return ok(found);
}
