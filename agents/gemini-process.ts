// Which process is Gemini CLI (docs/AGENTS.md, "Gemini CLI"). Measured on 0.61.0: `gemini` is a
// node wrapper that ignores SIGTERM, SIGINT and SIGHUP and relaunches itself as a child
// `node --max-old-space-size=... .../gemini` in its own process group; the child holds the
// conversation and exits on SIGTERM, and the wrapper follows it. So the agent is the child: a
// signal to it works whether or not the wrapper leads its group (a shell in the pane that
// started gemini without job control keeps it in the shell's group, where memgov signals the
// process alone, and the wrapper would ignore it).
import { basename } from 'node:path';
import { readProcessArgv, type ProcessIdentity } from '../adapters/proc.ts';
import { processTree } from '../adapters/proc-tree.ts';

/** Whether an argv runs Gemini CLI: a `gemini` program or script, or the package's bundle. */
export function runsGemini(argv: readonly string[]): boolean {
  return argv
    .slice(0, 4)
    .some((arg) => basename(arg) === 'gemini' || arg.endsWith('/gemini-cli/bundle/gemini.js'));
}

/**
 * Among `root` and its descendants, the Gemini CLI process that does the work: the first one
 * whose parent is one too (the relaunched child), else the first one (run with
 * GEMINI_CLI_NO_RELAUNCH, it has no child). Null when none runs Gemini CLI. Never rejects.
 */
export async function findGeminiProcess(
  root: ProcessIdentity,
  procRoot?: string,
): Promise<ProcessIdentity | null> {
  const tree = processTree(root.pid, procRoot);
  if (tree.isErr() || tree.value[0]?.startTicks !== root.startTicks) return null;
  const gemini: ProcessIdentity[] = [];
  const parents = new Map<number, number>();
  for (const { pid, ppid, startTicks, pgrp } of tree.value) {
    const argv = await readProcessArgv(pid, procRoot);
    if (argv.isErr() || !runsGemini(argv.value)) continue;
    gemini.push({ pid, startTicks, pgrp });
    parents.set(pid, ppid);
  }
  const child = gemini.find((p) => gemini.some((q) => q.pid === parents.get(p.pid)));
  return child ?? gemini[0] ?? null;
}
