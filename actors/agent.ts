// The agent memgov governs: either launched by memgov (`memgov run -- CMD`: its own process group,
// its stdin owned by memgov, relaunched with backoff after tier 3 or a kernel kill, as the
// lifecycle machine in machines/agent-lifecycle.machine.ts decides; in tmux: actors/agent-tmux.ts)
// or attached by PID or pidfile. Either way it is known by a verified identity (PID + start time),
// so a recycled PID is never signalled.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { identify, startedAtMs, type ProcessIdentity } from '../adapters/proc.ts';
import type { RelaunchPolicy, Tier3Stop } from '../machines/agent-lifecycle.machine.ts';
import {
  logRelaunch,
  relaunchAfterBackoff,
  startLifecycle,
  type Lifecycle,
  type ProcessRun,
} from './agent-lifecycle.ts';
import type { Log } from './log.ts';

export interface AgentHandle {
  /** True when memgov launched the agent (and owns its stdin). */
  readonly launched: boolean;
  /** The agent's identity now, or null when none is known or running. */
  identity(): ProcessIdentity | null;
  /** The launched agent's stdin, or null. */
  stdin(): Writable | null;
  /**
   * Tier 3 is about to stop the agent: a launched one is relaunched when it exits, resuming or
   * fresh by the tier 3s before (machines/relaunch.ts), or not at all once the budget is spent.
   */
  expectExit(stop: Tier3Stop): void;
  /**
   * Resolves with the agent's exit code when memgov should stop with it (launched mode only):
   * the agent ended on its own, or after a tier 3 that spent the relaunch budget.
   */
  readonly finished: Promise<number>;
  /** True once `finished` resolved because the relaunch budget was spent (memgov exits 4). */
  relaunchBudgetSpent(): boolean;
  /** Stops a launched agent (SIGTERM to its group) when memgov shuts down; no-op when attached. */
  shutdown(graceMs: number): Promise<void>;
  /** The tmux pane the agent runs in, when memgov launched it in tmux; absent otherwise. */
  readonly pane?: () => string | null;
}

const NEVER = new Promise<number>(() => undefined);

/**
 * A pidfile may be older than the process it names by at most this much: a process that started
 * later than that after the file was written got a recycled PID (btime has whole seconds).
 */
const PIDFILE_SLACK_MS = 2_000;

/**
 * Attached by PID, or by a pidfile re-read on each call (an outer loop may restart the agent).
 * A PID given on the command line is adopted at once, so that the process memgov was told about
 * is the one it ever signals: if that PID is recycled later, the start time no longer matches and
 * signalVerified refuses. A pidfile names a process that was running when the file was written; a
 * process that started well after the file's last write is someone else holding a recycled PID.
 */
export function attachedAgent(
  target: { pid: number | null; pidfile: string | null },
  log: Log,
): AgentHandle {
  let cached: ProcessIdentity | null = null;
  /** The pidfile's mtime when `cached` was read from it; a rewrite means a new agent. */
  let cachedFromMtimeMs: number | null = null;
  const fromPidfile = (pidfile: string): { pid: number; mtimeMs: number } | null => {
    try {
      const pid = Number(readFileSync(pidfile, 'utf8').trim());
      const { mtimeMs } = statSync(pidfile);
      return Number.isInteger(pid) && pid > 1 ? { pid, mtimeMs } : null;
    } catch {
      return null;
    }
  };
  // The sampler asks for the identity at every sample (to see a new incarnation): a pid that is
  // not running is logged once until another pid is named, not at every sample.
  let missingPid: number | null = null;
  const adopt = (pid: number): ProcessIdentity | null => {
    const found = identify(pid);
    if (found.isErr()) {
      if (missingPid !== pid)
        log.warn('agent process not found', { pid, detail: found.error.detail });
      missingPid = pid;
      return null;
    }
    missingPid = null;
    return found.value;
  };
  if (target.pid !== null) {
    cached = adopt(target.pid);
    if (cached !== null) log.info('agent attached', { pid: cached.pid });
  }
  return {
    launched: false,
    identity() {
      if (target.pid !== null) {
        // Adopted at start; a PID that was not running then is adopted on first use.
        if (cached === null) cached = adopt(target.pid);
        return cached;
      }
      if (target.pidfile === null) return null;
      const current = fromPidfile(target.pidfile);
      if (current === null) return null;
      if (cached?.pid === current.pid && cachedFromMtimeMs === current.mtimeMs) return cached;
      const found = adopt(current.pid);
      if (found === null) return (cached = null);
      const startMs = startedAtMs(found);
      if (startMs !== null && startMs > current.mtimeMs + PIDFILE_SLACK_MS) {
        log.warn('pidfile is older than the process it names: a recycled PID, not the agent', {
          pidfile: target.pidfile,
          pid: current.pid,
          pidfileWrittenAtMs: Math.round(current.mtimeMs),
          processStartedAtMs: Math.round(startMs),
        });
        return (cached = null);
      }
      cached = found;
      cachedFromMtimeMs = current.mtimeMs;
      return cached;
    },
    stdin: () => null,
    expectExit: () => undefined,
    finished: NEVER,
    relaunchBudgetSpent: () => false,
    shutdown: () => Promise.resolve(),
  };
}

export interface LaunchOptions extends RelaunchPolicy {
  readonly argv: readonly string[];
  readonly now: () => number;
}

/** A run of a launched agent: memgov's child, whose stdin memgov owns. */
interface ChildRun extends ProcessRun {
  readonly child: ChildProcess;
}

/** Launches the agent in its own process group and keeps it running as the policy requires. */
export function launchedAgent(options: LaunchOptions, log: Log): AgentHandle {
  const lifecycle = startLifecycle<ChildRun>(options);
  spawnAgent(options, log, lifecycle);
  return {
    launched: true,
    identity: () => lifecycle.run()?.identity ?? null,
    stdin: () => lifecycle.run()?.child.stdin ?? null,
    expectExit: (stop) => void lifecycle.send({ type: 'EXIT_EXPECTED', ...stop }),
    finished: lifecycle.finished,
    relaunchBudgetSpent: () => lifecycle.relaunchBudgetSpent(),
    shutdown: (graceMs) => stopChild(lifecycle, graceMs),
  };
}

/** Spawns one run and reports its start, its failure to start and its exit to the lifecycle. */
function spawnAgent(options: LaunchOptions, log: Log, lifecycle: Lifecycle<ChildRun>): void {
  const [program, ...args] = options.argv;
  if (program === undefined) return;
  const startedAtMs = options.now();
  const proc = spawn(program, args, { detached: true, stdio: ['pipe', 'inherit', 'inherit'] });
  proc.stdin?.on('error', (error) => log.warn("agent's stdin closed", { detail: error.message }));
  proc.on('error', (error) => {
    log.error('agent could not be started', { command: options.argv, detail: error.message });
    lifecycle.send({ type: 'LAUNCH_FAILED' });
  });
  proc.on('spawn', () => {
    const found = proc.pid === undefined ? null : identify(proc.pid);
    const identity = found?.isOk() === true ? found.value : null;
    log.info('agent started', { pid: proc.pid, command: options.argv });
    // The pid is set once 'spawn' fired.
    const run = { pid: proc.pid ?? 0, startedAtMs, identity, child: proc };
    // memgov began to stop while the agent was being spawned: it stops too.
    if (lifecycle.send({ type: 'STARTED', run }) === 'stopping') signalGroup(proc, 'SIGTERM');
  });
  proc.on('exit', (code, signal) => {
    const ranMs = options.now() - startedAtMs;
    // The machine relaunches after memgov's own tier 3 (unless the relaunch budget is spent) and
    // after a kernel kill (SIGKILL: OOM); otherwise the agent chose to exit and memgov ends with it.
    // A plain child has no resume: a fresh relaunch runs the same command, and says so.
    const relaunch = lifecycle.send({ type: 'EXITED', code, signal, ranMs }) === 'backoff';
    log.info('agent exited', { code, signal, ranMs, relaunch });
    if (!relaunch) return;
    logRelaunch(log, lifecycle, options.argv);
    relaunchAfterBackoff(lifecycle, () => spawnAgent(options, log, lifecycle));
  });
}

/** Signals the child's process group; false when it is gone already. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
    return child.pid !== undefined;
  } catch {
    return false;
  }
}

/** SIGTERM to the running agent's group, SIGKILL after graceMs; resolves once it exited. */
async function stopChild(lifecycle: Lifecycle<ChildRun>, graceMs: number): Promise<void> {
  const running = lifecycle.run()?.child ?? null;
  lifecycle.send({ type: 'SHUTDOWN' });
  if (running === null || running.pid === undefined) return;
  const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
  if (!signalGroup(running, 'SIGTERM')) return;
  const timer = setTimeout(() => signalGroup(running, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
