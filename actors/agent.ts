// The agent memgov governs: either launched by memgov (`memgov run -- CMD`: its own process group,
// its stdin owned by memgov, relaunched with backoff after tier 3 or a kernel kill) or attached
// by PID or pidfile. Either way it is known by a verified identity (PID + start time), so a
// recycled PID is never signalled.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Env } from '../adapters/session-files.ts';
import {
  identify,
  signalVerified,
  startedAtMs,
  waitForExit,
  type ProcessIdentity,
} from '../adapters/proc.ts';
import type { Tmux } from '../adapters/tmux.ts';
import type { Log } from './log.ts';
import type { AgentProfile } from '../agents/index.ts';

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
  const adopt = (pid: number): ProcessIdentity | null => {
    const found = identify(pid);
    if (found.isErr()) {
      log.warn('agent process not found', { pid, detail: found.error.detail });
      return null;
    }
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

/** The delay before each relaunch: doubles per quick failure up to maxBackoffMs; a run longer
 * than healthyAfterMs starts it over. */
function relaunchDelays(options: LaunchOptions): (ranMs: number) => number {
  let nextMs = options.backoffMs;
  return (ranMs) => {
    if (ranMs > options.healthyAfterMs) nextMs = options.backoffMs;
    const delayMs = nextMs;
    nextMs = Math.min(options.maxBackoffMs, nextMs * 2);
    return delayMs;
  };
}

/** Launches the agent in its own process group and keeps it running as the policy requires. */
export function launchedAgent(options: LaunchOptions, log: Log): AgentHandle {
  let child: ChildProcess | null = null;
  let identity: ProcessIdentity | null = null;
  let expectingExit = false;
  let stopping = false;
  const relaunchDelay = relaunchDelays(options);
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
      const delayMs = relaunchDelay(ranMs);
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

export interface TmuxLaunchOptions extends LaunchOptions {
  readonly tmux: Tmux;
  readonly profile: AgentProfile;
  /** Where the profile looks for session files; the variables naming them reach the agent too. */
  readonly env: Env;
  /** Where the agent starts and restarts: Claude Code's resume is scoped to the cwd. */
  readonly cwd: string;
  /** The tmux session memgov owns. Default `memgov-agent-<memgov's pid>`. */
  readonly sessionName?: string;
  /** How often the agent's process and session id are checked. Default 500. */
  readonly pollMs?: number;
  /** How long a resumed agent is watched for a resume prompt. Default 30000. */
  readonly resumePromptWindowMs?: number;
  /**
   * The cgroup's OOM-kill counter now, or null when unreadable. tmux 3.3 loses a dead pane's exit
   * status now and then (3 of 20 kill -9s here): a counter that rose while the agent ran is then
   * the evidence of a kernel kill, and the agent is relaunched as after any SIGKILL.
   */
  readonly oomKills?: () => number | null;
}

/**
 * Variables that say where an agent keeps its sessions: a tmux server started earlier would not
 * pass memgov's values on (a new pane gets the server's environment), and memgov must look where
 * the agent writes.
 */
const FORWARDED_ENV = [
  'CLAUDE_CONFIG_DIR',
  'CODEX_HOME',
  'GEMINI_CLI_HOME',
  'AIDER_CHAT_HISTORY_FILE',
] as const;
/** Between the answer to a resume prompt and its Enter (see adapters/tmux.ts). */
const ANSWER_ENTER_DELAY_MS = 300;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Launches the agent in a tmux session memgov owns (`tmux new-session -d -s NAME -c CWD -- ARGV`),
 * knows it by the pane's process, and after tier 3 (or a kernel kill) starts it again in the same
 * cwd with the profile's resume argv for the last session id seen, answering a resume prompt
 * (`y`, Enter) if one appears. `shutdown` kills the session.
 */
export function tmuxLaunchedAgent(options: TmuxLaunchOptions, log: Log): AgentHandle {
  const { tmux, profile } = options;
  const name = options.sessionName ?? `memgov-agent-${process.pid}`;
  const pollMs = options.pollMs ?? 500;
  let identity: ProcessIdentity | null = null;
  let lastSessionId: string | null = null;
  let expectingExit = false;
  let stopping = false;
  const relaunchDelay = relaunchDelays(options);
  let startedAtMs = 0;
  let oomKillsAtStart: number | null = null;
  let poller: NodeJS.Timeout | null = null;
  let resolveFinished: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    resolveFinished = resolve;
  });

  /** Runs a tmux command whose failure changes nothing (the session is already gone). */
  const bestEffort = async (args: readonly string[]): Promise<void> =>
    void (await tmux.run(args)).unwrapOr('');

  const envFlags = FORWARDED_ENV.flatMap((key) => {
    const value = options.env[key];
    return value === undefined || value === '' ? [] : ['-e', `${key}=${value}`];
  });

  const rememberSession = async (pid: number): Promise<void> => {
    const id = await profile.sessionId(pid, options.env).catch(() => null);
    if (id !== null) lastSessionId = id;
  };

  /** Answers the profile's resume prompt once, if it shows within the window. */
  const answerResumePrompt = async (): Promise<void> => {
    const prompt = profile.resumePrompt;
    if (prompt === null) return;
    const deadline = performance.now() + (options.resumePromptWindowMs ?? 30_000);
    while (!stopping && performance.now() < deadline) {
      const text = await tmux.capturePane(name);
      if (text.isErr()) return;
      if (prompt.test(text.value)) {
        const answered = await tmux.sendLiteral(name, 'y');
        await sleep(ANSWER_ENTER_DELAY_MS);
        const entered = answered.isOk() ? await tmux.sendKey(name, 'Enter') : answered;
        log.info('answered the resume prompt', {
          answer: 'y',
          ok: entered.isOk(),
          detail: entered.isErr() ? entered.error.detail : null,
        });
        return;
      }
      await sleep(Math.min(pollMs, 250));
    }
  };

  const onExit = async (gone: ProcessIdentity): Promise<void> => {
    identity = null;
    await rememberSession(gone.pid);
    const shown = await tmux.run([
      'display-message',
      '-p',
      '-t',
      name,
      '#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}',
    ]);
    const [, status = '', signal = ''] = shown.unwrapOr('').trim().split('\t');
    await bestEffort(['kill-session', '-t', name]);
    const ranMs = options.now() - startedAtMs;
    const oomKillsNow = options.oomKills?.() ?? null;
    const oomKilled =
      status === '' && signal === '' && oomKillsNow !== null && oomKillsAtStart !== null
        ? oomKillsNow > oomKillsAtStart
        : null;
    // As launchedAgent: relaunch after memgov's own tier 3 and after a kernel kill (SIGKILL).
    const relaunch = !stopping && (expectingExit || signal === '9' || oomKilled === true);
    log.info('agent exited', {
      status,
      signal,
      ranMs,
      relaunch,
      sessionId: lastSessionId,
      ...(oomKilled === null ? {} : { statusLost: true, oomKilled }),
    });
    expectingExit = false;
    if (!relaunch) {
      if (!stopping) resolveFinished(/^\d+$/.test(status) ? Number(status) : 128);
      return;
    }
    const delayMs = relaunchDelay(ranMs);
    const resumed = profile.resumeArgv(options.argv, lastSessionId);
    log.info('relaunching agent', { delayMs, command: resumed ?? options.argv });
    setTimeout(() => void start(resumed ?? options.argv, resumed !== null), delayMs);
  };

  let polling = false;
  const poll = async (): Promise<void> => {
    const current = identity;
    if (current === null || stopping || polling) return;
    polling = true;
    try {
      if ((await waitForExit(current, { timeoutMs: 0, pollMs: 1 })) === 'exited') {
        stopPolling();
        await onExit(current);
        return;
      }
      await rememberSession(current.pid);
    } finally {
      polling = false;
    }
  };

  const stopPolling = (): void => {
    if (poller !== null) clearInterval(poller);
    poller = null;
  };

  const start = async (argv: readonly string[], resuming: boolean): Promise<void> => {
    if (argv.length === 0 || stopping) return;
    startedAtMs = options.now();
    oomKillsAtStart = options.oomKills?.() ?? null;
    // One argument would run through `sh -c`; `env` execs the program itself, keeping the pid.
    const command = argv.length === 1 ? ['env', '--', ...argv] : argv;
    const created = await tmux.run([
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      '200',
      '-y',
      '50',
      '-c',
      options.cwd,
      ...envFlags,
      '--',
      ...command,
    ]);
    if (created.isErr()) {
      log.error('agent could not be started in tmux', {
        command: argv,
        detail: created.error.detail,
      });
      resolveFinished(127);
      return;
    }
    // Keep a pane whose process exited, so its exit status can be read before the session goes.
    await bestEffort(['set-option', '-w', '-t', name, 'remain-on-exit', 'on']);
    const pid = await tmux.panePid(name);
    const found = pid.isOk() ? identify(pid.value) : null;
    identity = found?.isOk() === true ? found.value : null;
    if (identity === null) {
      log.error('agent exited as it started', { command: argv });
      await bestEffort(['kill-session', '-t', name]);
      resolveFinished(127);
      return;
    }
    log.info('agent started', { pid: identity.pid, pane: name, command: argv, cwd: options.cwd });
    poller = setInterval(() => void poll(), pollMs);
    if (resuming) await answerResumePrompt();
  };
  void start(options.argv, false);

  return {
    launched: true,
    identity: () => identity,
    stdin: () => null,
    pane: () => name,
    expectExit: () => {
      expectingExit = true;
    },
    finished,
    shutdown: async (graceMs) => {
      stopping = true;
      stopPolling();
      const running = identity;
      // kill-session hangs up the pane: SIGHUP to the agent's process group.
      await bestEffort(['kill-session', '-t', name]);
      if (running === null) return;
      if ((await waitForExit(running, { timeoutMs: graceMs, pollMs: 100 })) === 'exited') return;
      signalVerified(running, 'SIGKILL', { group: true }).match(
        (sent) => log.warn('agent ignored the hang-up: SIGKILL', { pid: running.pid, sent }),
        (e) => log.warn('SIGKILL not sent', { pid: running.pid, detail: e.detail }),
      );
      await waitForExit(running, { timeoutMs: 2_000, pollMs: 100 });
    },
  };
}
