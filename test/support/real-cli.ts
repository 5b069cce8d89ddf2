// What the real-CLI test supports (real-claude.ts, real-codex.ts, real-gemini.ts) share: where
// scripts/install-agent-clis.sh put each CLI, the check that it is there, a tmux socket name of
// each CLI's own, shell quoting, and the /proc reads that record and find processes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `relPath` under the CLIs' cache dir (MEMGOV_AGENT_CLIS, default ~/.cache/memgov-agent-clis). */
export function agentCliPath(relPath: string): string {
  const cacheDir = process.env.MEMGOV_AGENT_CLIS ?? join(homedir(), '.cache/memgov-agent-clis');
  return join(cacheDir, relPath);
}

/**
 * Throws (never skips) when the CLI is missing: `npm test` installs it first (scripts/test-deps.sh),
 * so a silent skip would hide that the real CLI was never run.
 */
export function requireAgentCli(name: string, path: string, installArg = ''): void {
  if (!existsSync(path)) {
    const install = `scripts/install-agent-clis.sh${installArg === '' ? '' : ` ${installArg}`}`;
    throw new Error(`the real ${name} is not installed at ${path}: run ${install}`);
  }
}

/**
 * A namer of tmux sockets, one per started CLI: `<prefix>-<test pid>-<n>`.
 * MEMGOV_TEST_TMUX_PREFIX keeps runs sharing a machine apart by name.
 */
export function socketNamer(defaultPrefix: string): () => string {
  let started = 0;
  return () => {
    const prefix = process.env.MEMGOV_TEST_TMUX_PREFIX ?? defaultPrefix;
    return `${prefix}-${process.pid}-${(started += 1)}`;
  };
}

/** One word for sh/bash, in single quotes. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The process's comm, '' when it is gone. */
export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** pid -> [ppid, comm] of every process, from /proc/<pid>/stat. */
export function processTable(): Map<number, [number, string]> {
  const table = new Map<number, [number, string]>();
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      table.set(Number(name), [ppid, comm]);
    } catch {
      // Exited while we read.
    }
  }
  return table;
}

/** The pane process and its descendants, parents first. */
export function descendantsOf(rootPid: number): number[] {
  const table = processTable();
  const found = [rootPid];
  for (let i = 0; i < found.length; i += 1)
    for (const [pid, [ppid]] of table) if (ppid === found[i]) found.push(pid);
  return found.filter((pid) => table.has(pid));
}
