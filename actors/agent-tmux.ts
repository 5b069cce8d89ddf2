// The agent launched in a tmux session memgov owns (`tmux new-session -d -s NAME -c CWD -- ARGV`),
// for terminal CLIs: known by the pane's process, polled for its exit, and after tier 3 (or a
// kernel kill) started again in the same cwd with the profile's resume argv for the session
// that the lineage and `agent.resume` pick, answering the profile's startup prompts that have a safe
// answer (Claude Code's resume menu: Enter) and reporting the others. Whether and when it relaunches
// is the lifecycle machine's decision (machines/agent-lifecycle.machine.ts).
import { constants } from 'node:os';
import type { Env } from '../adapters/session-files.ts';
import { identify, signalVerified, waitForExit, type ProcessIdentity } from '../adapters/proc.ts';
import type { Tmux } from '../adapters/tmux.ts';
import { pause } from '../lib/time.ts';
import type { AgentHandle, LaunchOptions } from './agent.ts';
import {
  logRelaunch,
  relaunchAfterBackoff,
  startLifecycle,
  type Lifecycle,
  type ProcessRun,
} from './agent-lifecycle.ts';
import type { SessionLineage } from './lineage.ts';
import type { Log } from './log.ts';
import type { ResumeMode } from '../machines/daemon-config.ts';
import type { AgentProfile } from '../agents/index.ts';

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
  /** The session ids since launch, fed by the poll; the relaunch picks from it by `resume`. */
  readonly lineage?: SessionLineage;
  /** Which session the relaunch resumes (machines/daemon-config.ts). Default `conversation`. */
  readonly resume?: ResumeMode;
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

/** A run in the pane: its verified process and the OOM-kill counter when it started. */
interface PaneRun extends ProcessRun {
  readonly identity: ProcessIdentity;
  readonly oomKillsAtStart: number | null;
}

/** One tmux-launched agent: what its runs share. */
interface PaneAgent {
  readonly options: TmuxLaunchOptions;
  readonly log: Log;
  /** The tmux session (and its one pane). */
  readonly name: string;
  readonly pollMs: number;
  readonly lifecycle: Lifecycle<PaneRun>;
  /** Aborted when memgov stops: ends the polling and the wait for a resume prompt. */
  readonly stopping: AbortController;
  /** The last session id the profile reported: what a relaunch resumes. */
  lastSessionId: string | null;
}

/** Launches the agent in its own tmux session; `shutdown` kills the session. */
export function tmuxLaunchedAgent(options: TmuxLaunchOptions, log: Log): AgentHandle {
  const agent: PaneAgent = {
    options,
    log,
    name: options.sessionName ?? `memgov-agent-${process.pid}`,
    pollMs: options.pollMs ?? 500,
    lifecycle: startLifecycle<PaneRun>(options),
    stopping: new AbortController(),
    lastSessionId: null,
  };
  void startInPane(agent, options.argv, false);
  return {
    launched: true,
    identity: () => agent.lifecycle.run()?.identity ?? null,
    stdin: () => null,
    pane: () => agent.name,
    expectExit: (stop) => void agent.lifecycle.send({ type: 'EXIT_EXPECTED', ...stop }),
    finished: agent.lifecycle.finished,
    relaunchBudgetSpent: () => agent.lifecycle.relaunchBudgetSpent(),
    shutdown: (graceMs) => stopPane(agent, graceMs),
  };
}

/** Runs a tmux command whose failure changes nothing (the session is already gone). */
async function bestEffort(agent: PaneAgent, args: readonly string[]): Promise<void> {
  void (await agent.options.tmux.run(args)).unwrapOr('');
}

function newSessionArgs(agent: PaneAgent, argv: readonly string[]): readonly string[] {
  const { env, cwd } = agent.options;
  const envFlags = FORWARDED_ENV.flatMap((key) => {
    const value = env[key];
    return value === undefined || value === '' ? [] : ['-e', `${key}=${value}`];
  });
  // One argument would run through `sh -c`; `env` execs the program itself, keeping the pid.
  const command = argv.length === 1 ? ['env', '--', ...argv] : argv;
  const size = ['-x', '200', '-y', '50'];
  return ['new-session', '-d', '-s', agent.name, ...size, '-c', cwd, ...envFlags, '--', ...command];
}

/** Starts one run in a new session and watches it; reports start or failure to the lifecycle. */
async function startInPane(
  agent: PaneAgent,
  given: readonly string[],
  resuming: boolean,
): Promise<void> {
  const { options, log, name, lifecycle } = agent;
  const argv = options.profile.launchArgv?.(given) ?? given;
  if (argv.length === 0) return;
  const warning = options.profile.launchWarning?.(options.env) ?? null;
  if (warning !== null) log.warn('agent may not be governable', { detail: warning });
  const startedAtMs = options.now();
  const oomKillsAtStart = options.oomKills?.() ?? null;
  const created = await options.tmux.run(newSessionArgs(agent, argv));
  if (created.isErr()) {
    log.error('agent could not be started in tmux', {
      command: argv,
      detail: created.error.detail,
    });
    lifecycle.send({ type: 'LAUNCH_FAILED' });
    return;
  }
  // Keep a pane whose process exited, so its exit status can be read before the session goes.
  await bestEffort(agent, ['set-option', '-w', '-t', name, 'remain-on-exit', 'on']);
  const pid = await options.tmux.panePid(name);
  const found = pid.isOk() ? identify(pid.value) : null;
  if (found?.isOk() !== true) {
    log.error('agent exited as it started', { command: argv });
    await bestEffort(agent, ['kill-session', '-t', name]);
    lifecycle.send({ type: 'LAUNCH_FAILED' });
    return;
  }
  const identity = found.value;
  log.info('agent started', {
    ...{ pid: identity.pid, pane: name, command: argv, cwd: options.cwd, resumed: resuming },
  });
  const run = { pid: identity.pid, startedAtMs, identity, oomKillsAtStart };
  // memgov began to stop while the session was being created: the new session goes too.
  if (lifecycle.send({ type: 'STARTED', run }) === 'stopping') {
    await bestEffort(agent, ['kill-session', '-t', name]);
    return;
  }
  void watchRun(agent, run);
  await watchStartupPrompts(agent);
}

/** The session id of the agent in the pane (the profile's process at or below the pane's). */
async function rememberSession(agent: PaneAgent, pane: ProcessIdentity): Promise<void> {
  const { profile, env } = agent.options;
  const found = (await profile.findAgent?.(pane, env)) ?? pane;
  const id = await profile.sessionId(found.pid, env).catch(() => null);
  if (id !== null) agent.lastSessionId = id;
  agent.options.lineage?.observe(id);
}

/**
 * The session the relaunch resumes, by `resume`: none; latest (the last id seen); conversation
 * (the profile's pick from the lineage, else the last id seen). Logged with the reason.
 */
async function sessionToResume(agent: PaneAgent): Promise<string | null> {
  const { profile, env, cwd, lineage, resume = 'conversation' } = agent.options;
  const latest = agent.lastSessionId;
  let choice = { sessionId: latest, why: 'the last session seen' };
  if (resume === 'none') choice = { sessionId: null, why: 'agent.resume is none' };
  else if (resume === 'conversation' && lineage !== undefined && profile.conversationSession) {
    const picked = await profile.conversationSession(lineage.chain(), cwd, env);
    if (picked !== null) choice = picked;
  }
  agent.log.info('resume chosen', {
    resume,
    ...choice,
    lineage: lineage?.chain() ?? [],
  });
  return choice.sessionId;
}

/** Polls the run's process (and its session id) until it exits or memgov stops. */
async function watchRun(agent: PaneAgent, run: PaneRun): Promise<void> {
  for (;;) {
    await pause(agent.pollMs, agent.stopping.signal);
    if (agent.stopping.signal.aborted) return;
    if ((await waitForExit(run.identity, { timeoutMs: 0, pollMs: 1 })) === 'exited') {
      await onExit(agent, run);
      return;
    }
    await rememberSession(agent, run.identity);
  }
}

/** Presses the prompt's keys, a pause between them (see adapters/tmux.ts); the first error. */
async function pressKeys(agent: PaneAgent, keys: readonly string[]): Promise<string | null> {
  for (const [i, key] of keys.entries()) {
    if (i > 0) await pause(ANSWER_ENTER_DELAY_MS);
    const sent = await agent.options.tmux.sendKey(agent.name, key);
    if (sent.isErr()) return sent.error.detail;
  }
  return null;
}

/**
 * Watches the pane of a run that just started for the profile's startup prompts: one with keys
 * (Claude Code's "Resume from summary" menu: Enter) is answered, one without (a trust dialog) is
 * reported and left for a person, never typed into. Ends at the first prompt answered or
 * reported, or after the window.
 */
async function watchStartupPrompts(agent: PaneAgent): Promise<void> {
  const { options, log, name, stopping } = agent;
  const prompts = options.profile.startupPrompts;
  if (prompts.length === 0) return;
  const deadline = performance.now() + (options.resumePromptWindowMs ?? 30_000);
  while (!stopping.signal.aborted && performance.now() < deadline) {
    const text = await options.tmux.capturePane(name);
    if (text.isErr()) return;
    const shown = prompts.find((prompt) => prompt.shows.test(text.value));
    if (shown?.keys === null) {
      log.warn('the agent asks a question memgov does not answer', {
        prompt: shown.name,
        pane: name,
        detail: 'answer it in the pane (tmux attach); until then no command is typed',
      });
      return;
    }
    if (shown !== undefined) {
      const error = await pressKeys(agent, shown.keys);
      log.info('answered the agent prompt', { prompt: shown.name, keys: shown.keys, error });
      return;
    }
    await pause(Math.min(agent.pollMs, 250));
  }
}

/** The dead pane's exit status and signal number as tmux shows them ('' when tmux lost them). */
async function deadPaneStatus(agent: PaneAgent): Promise<{ status: string; signal: string }> {
  const format = '#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}';
  const shown = await agent.options.tmux.run(['display-message', '-p', '-t', agent.name, format]);
  const [, status = '', signal = ''] = shown.unwrapOr('').trim().split('\t');
  return { status, signal };
}

/** `9` -> `SIGKILL`: tmux shows a signal by its number. */
function signalName(signalNumber: string): string | null {
  if (!/^\d+$/.test(signalNumber)) return null;
  const found = Object.entries(constants.signals).find(([, n]) => n === Number(signalNumber));
  return found?.[0] ?? `signal ${signalNumber}`;
}

/** With the status lost: whether the cgroup counted an OOM kill during the run; else null. */
function oomKilledDuring(
  run: PaneRun,
  shown: { status: string; signal: string },
  now: number | null,
): boolean | null {
  const lost = shown.status === '' && shown.signal === '';
  return lost && now !== null && run.oomKillsAtStart !== null ? now > run.oomKillsAtStart : null;
}

async function onExit(agent: PaneAgent, gone: PaneRun): Promise<void> {
  const { options, log, lifecycle } = agent;
  await rememberSession(agent, gone.identity);
  const shown = await deadPaneStatus(agent);
  await bestEffort(agent, ['kill-session', '-t', agent.name]);
  const ranMs = options.now() - gone.startedAtMs;
  const oomKilled = oomKilledDuring(gone, shown, options.oomKills?.() ?? null);
  const code = /^\d+$/.test(shown.status) ? Number(shown.status) : null;
  const exit = { code, signal: signalName(shown.signal), ranMs, oomKilled: oomKilled === true };
  const relaunch = lifecycle.send({ type: 'EXITED', ...exit }) === 'backoff';
  log.info('agent exited', {
    ...shown,
    ranMs,
    relaunch,
    sessionId: agent.lastSessionId,
    ...(oomKilled === null ? {} : { statusLost: true, oomKilled }),
  });
  if (!relaunch) return;
  // A fresh relaunch asks no profile: some resume the latest session when given none (gemini).
  const resumed =
    lifecycle.step() === 'fresh'
      ? null
      : options.profile.resumeArgv(options.argv, await sessionToResume(agent));
  const argv = resumed ?? options.argv;
  logRelaunch(log, lifecycle, argv);
  relaunchAfterBackoff(lifecycle, () => void startInPane(agent, argv, resumed !== null));
}

/** Kills the session (SIGHUP to the agent's group), SIGKILL if the agent outlives graceMs. */
async function stopPane(agent: PaneAgent, graceMs: number): Promise<void> {
  const running = agent.lifecycle.run()?.identity ?? null;
  agent.lifecycle.send({ type: 'SHUTDOWN' });
  agent.stopping.abort();
  await bestEffort(agent, ['kill-session', '-t', agent.name]);
  if (running === null) return;
  if ((await waitForExit(running, { timeoutMs: graceMs, pollMs: 100 })) === 'exited') return;
  const { log } = agent;
  signalVerified(running, 'SIGKILL', { group: true }).match(
    (sent) => log.warn('agent ignored the hang-up: SIGKILL', { pid: running.pid, sent }),
    (e) => log.warn('SIGKILL not sent', { pid: running.pid, detail: e.detail }),
  );
  await waitForExit(running, { timeoutMs: 2_000, pollMs: 100 });
}
