// The agent memgov governs: either launched by memgov (`memgov run -- CMD`: its own process group,
// its stdin owned by memgov, relaunched with backoff after tier 3 or a kernel kill) or attached
// by PID or pidfile. Either way it is known by a verified identity (PID + start time), so a
// recycled PID is never signalled.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { identify, type ProcessIdentity } from '../adapters/proc.ts';
import type { Log } from './log.ts';

export interface AgentHandle {
  /** True when memgov launched the agent (and owns its stdin). */
  readonly launched: boolean;
  /** The agent's identity now, or null when none is known or running. */
  identity(): ProcessIdentity | null;
  /** The launched agent's stdin, or null. */
  stdin(): Writable | null;
  /** Tier 3 is about to stop the agent: a launched one is relaunched when it exits. */
  expectExit(): void;
  /** Resolves with the agent's exit code when memgov should stop with it (launched mode only). */
  readonly finished: Promise<number>;
  /** Stops a launched agent (SIGTERM to its group) when memgov shuts down; no-op when attached. */
  shutdown(graceMs: number): Promise<void>;
}

const NEVER = new Promise<number>(() => undefined);

/** Attached by PID, or by a pidfile re-read on each call (an outer loop may restart the agent). */
export function attachedAgent(
  target: { pid: number | null; pidfile: string | null },
  log: Log,
): AgentHandle {
  let cached: ProcessIdentity | null = null;
  const currentPid = (): number | null => {
    if (target.pid !== null) return target.pid;
    if (target.pidfile === null) return null;
    try {
      const pid = Number(readFileSync(target.pidfile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 1 ? pid : null;
    } catch {
      return null;
    }
  };
  return {
    launched: false,
    identity() {
      const pid = currentPid();
      if (pid === null) return null;
      if (cached?.pid === pid) return cached;
      const found = identify(pid);
      if (found.isErr()) {
        log.warn('agent process not found', { pid, detail: found.error.detail });
        cached = null;
        return null;
      }
      cached = found.value;
      return cached;
    },
    stdin: () => null,
    expectExit: () => undefined,
    finished: NEVER,
    shutdown: () => Promise.resolve(),
  };
}

export interface LaunchOptions {
  readonly argv: readonly string[];
  /** First relaunch delay; doubles per quick failure up to maxBackoffMs. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** A run longer than this resets the backoff. */
  readonly healthyAfterMs: number;
  readonly now: () => number;
}

/** Launches the agent in its own process group and keeps it running as the policy requires. */
export function launchedAgent(options: LaunchOptions, log: Log): AgentHandle {
  let child: ChildProcess | null = null;
  let identity: ProcessIdentity | null = null;
  let expectingExit = false;
  let stopping = false;
  let backoffMs = options.backoffMs;
  let startedAtMs = 0;
  let resolveFinished: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    resolveFinished = resolve;
  });
  const [program, ...args] = options.argv;

  const start = (): void => {
    if (program === undefined || stopping) return;
    startedAtMs = options.now();
    const proc = spawn(program, args, { detached: true, stdio: ['pipe', 'inherit', 'inherit'] });
    child = proc;
    proc.stdin?.on('error', (error) => log.warn("agent's stdin closed", { detail: error.message }));
    proc.on('error', (error) => {
      log.error('agent could not be started', { command: options.argv, detail: error.message });
      child = null;
      identity = null;
      resolveFinished(127);
    });
    proc.on('spawn', () => {
      const found = proc.pid === undefined ? null : identify(proc.pid);
      identity = found?.isOk() === true ? found.value : null;
      log.info('agent started', { pid: proc.pid, command: options.argv });
    });
    proc.on('exit', (code, signal) => {
      child = null;
      identity = null;
      const ranMs = options.now() - startedAtMs;
      // Relaunch after memgov's own tier 3 and after a kernel kill (SIGKILL: OOM); otherwise the
      // agent chose to exit and memgov ends with it.
      const relaunch = !stopping && (expectingExit || signal === 'SIGKILL');
      log.info('agent exited', { code, signal, ranMs, relaunch });
      expectingExit = false;
      if (!relaunch) {
        resolveFinished(code ?? 128);
        return;
      }
      if (ranMs > options.healthyAfterMs) backoffMs = options.backoffMs;
      const delayMs = backoffMs;
      backoffMs = Math.min(options.maxBackoffMs, backoffMs * 2);
      log.info('relaunching agent', { delayMs });
      setTimeout(start, delayMs);
    });
  };
  start();

  return {
    launched: true,
    identity: () => identity,
    stdin: () => child?.stdin ?? null,
    expectExit: () => {
      expectingExit = true;
    },
    finished,
    shutdown: async (graceMs) => {
      stopping = true;
      const running = child;
      if (running === null || running.pid === undefined) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      try {
        process.kill(-running.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          if (running.pid !== undefined) process.kill(-running.pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
