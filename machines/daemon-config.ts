// The daemon's settings beyond the policy: where state and archives live, how to reach the
// agent, and the supervisor's restart budget. Pure validation; every problem names its key
// path (`agent.transport`) and the value found.
import { quoteValue } from '../lib/quote.ts';
import type { ConfigIssue, PolicyConfig } from './config.ts';
import { DEFAULT_RESTART_BUDGET, type RestartBudget } from './restart-budget.ts';
import { DEFAULT_RELAUNCH_WINDOW_MS } from './relaunch.ts';
import { isRecord } from '../lib/record.ts';

export type TransportKind = 'none' | 'stdin' | 'command' | 'tmux';
export type ProfileName = 'generic' | 'claude-code' | 'codex' | 'gemini' | 'aider';
export type BusyPolicy = 'interrupt' | 'skip';

export const PROFILE_NAMES: readonly ProfileName[] = [
  'generic',
  'claude-code',
  'codex',
  'gemini',
  'aider',
];
export const TRANSPORT_KINDS: readonly TransportKind[] = ['none', 'stdin', 'command', 'tmux'];
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ActionWithCommand = 'compact' | 'clear';
export const RESUME_MODES = ['conversation', 'latest', 'none'] as const;
export type ResumeMode = (typeof RESUME_MODES)[number];

export interface AgentConfig {
  readonly profile: ProfileName;
  /** `none` observes and logs only; chosen automatically when not set (see resolveTransport). */
  readonly transport: TransportKind | null;
  /** Text typed for each rung over the stdin transport (the generic profile's commands). */
  readonly commands: Readonly<Record<ActionWithCommand, string | null>>;
  /** argv run for each rung over the command transport; never through a shell. */
  readonly commandArgv: Readonly<Record<ActionWithCommand, readonly string[] | null>>;
  readonly pid: number | null;
  readonly pidfile: string | null;
  /** Longest a compact or clear may take before it counts as timed out. */
  readonly actionTimeoutMs: number;
  /** How long SIGTERM gets before tier 3 reports the agent still alive. */
  readonly terminateGraceMs: number;
  /** Opt-in: SIGKILL this long after SIGTERM if the agent is still alive. */
  readonly killAfterMs: number | null;
  /**
   * stop-tool: SIGKILL what is left of the tool's subtree this long after its SIGTERM. 3 s: a
   * build or test runner that traps SIGTERM gets time to exit, while memory may still climb.
   */
  readonly toolKillAfterMs: number;
  /** The agent's tmux pane (`agent:0.0`, `%3`) when attaching over tmux; null otherwise. */
  readonly tmuxTarget: string | null;
  /** The tmux server: a socket path (holds a `/`, tmux -S) or a socket name (tmux -L). */
  readonly tmuxSocket: string | null;
  /** The key that submits a typed command; null: the profile's (Enter for every known CLI). */
  readonly enterKey: string | null;
  /** What the tmux transport does when the agent is still busy at the idle deadline. */
  readonly busyPolicy: BusyPolicy;
  /** How long the tmux transport waits for the agent to be idle before the busy policy applies. */
  readonly idleDeadlineMs: number;
  /**
   * Which session the relaunch after tier 3 resumes: `conversation` the one holding the latest
   * compact summary (a /clear leaves the conversation in the session before it), `latest` the
   * live one, `none` relaunches the command as it was.
   */
  readonly resume: ResumeMode;
}

export interface ArchiveConfig {
  readonly dir: string;
  readonly paths: readonly string[];
  readonly retain: number;
  readonly deadlineMs: number;
}

/** An opt-in HTTP listener (metrics, inspector): off by default, loopback unless told otherwise. */
export interface EndpointConfig {
  readonly enabled: boolean;
  /** The address to bind; 127.0.0.1 by default (reach it with `kubectl port-forward`). */
  readonly host: string;
  /** 0 lets the kernel choose a free port (the log says which). */
  readonly port: number;
}

/** The decision journal: one JSON line per decision and per action result, rotated by size. */
export interface JournalConfig {
  /** `journal.path: off` (or `--no-journal`) turns it off. */
  readonly enabled: boolean;
  /** null: beside the state file, as `mem_governor_journal.jsonl`. */
  readonly path: string | null;
  /** Rotate when the live file would pass this size. */
  readonly maxBytes: number;
  /** Rotated files kept: path.1 (newest) to path.<keep>. */
  readonly keep: number;
}

export const DEFAULT_METRICS_PORT = 9470;
export const DEFAULT_INSPECT_PORT = 9471;
export const LOOPBACK = '127.0.0.1';
export const JOURNAL_FILE_NAME = 'mem_governor_journal.jsonl';

export interface DaemonConfig {
  readonly stateFile: string;
  readonly cgroup: string | null;
  readonly dryRun: boolean;
  readonly logLevel: LogLevel;
  readonly agent: AgentConfig;
  readonly archive: ArchiveConfig;
  readonly supervisor: RestartBudget;
  readonly metrics: EndpointConfig;
  readonly inspect: EndpointConfig;
  readonly journal: JournalConfig;
  /**
   * Launch mode: a second tier 3 within this long of the first relaunches fresh, a third ends
   * memgov with exit 4 (machines/relaunch.ts). 0 turns the step-down off (every relaunch resumes).
   */
  readonly relaunchWindowMs: number;
}

/** Defaults that depend on the environment: AGENT_DATA is where the pod keeps agent state. */
export function defaultDaemonConfig(agentData: string): DaemonConfig {
  return {
    stateFile: `${agentData}/config/mem_governor_state`,
    cgroup: null,
    dryRun: false,
    logLevel: 'info',
    agent: {
      profile: 'generic',
      transport: null,
      commands: { compact: '/compact', clear: '/clear' },
      commandArgv: { compact: null, clear: null },
      pid: null,
      pidfile: null,
      // A real /compact is a model call over the whole conversation: minutes on a real model
      // (7-15 s on a local fake with a small history, docs/AGENTS.md), so a minute-long bound
      // would report good compactions as timed out. Ten minutes still ends a wedged agent's wait.
      actionTimeoutMs: 600_000,
      terminateGraceMs: 10_000,
      killAfterMs: null,
      toolKillAfterMs: 3_000,
      tmuxTarget: null,
      tmuxSocket: null,
      enterKey: null,
      busyPolicy: 'skip',
      idleDeadlineMs: 30_000,
      resume: 'conversation',
    },
    archive: { dir: `${agentData}/archive`, paths: [], retain: 10, deadlineMs: 20_000 },
    supervisor: DEFAULT_RESTART_BUDGET,
    metrics: { enabled: false, host: LOOPBACK, port: DEFAULT_METRICS_PORT },
    inspect: { enabled: false, host: LOOPBACK, port: DEFAULT_INSPECT_PORT },
    journal: { enabled: true, path: null, maxBytes: 10 * 1024 * 1024, keep: 3 },
    relaunchWindowMs: DEFAULT_RELAUNCH_WINDOW_MS,
  };
}

/** The journal file in effect, or null when the journal is off. */
export function journalPathOf(daemon: DaemonConfig): string | null {
  if (!daemon.journal.enabled) return null;
  if (daemon.journal.path !== null) return daemon.journal.path;
  // Beside the state file: the directory memgov already writes to (and, by default,
  // $AGENT_DATA/config/mem_governor_journal.jsonl).
  const slash = daemon.stateFile.lastIndexOf('/');
  const dir = slash === -1 ? '.' : slash === 0 ? '' : daemon.stateFile.slice(0, slash);
  return `${dir}/${JOURNAL_FILE_NAME}`;
}

type Raw = Readonly<Record<string, unknown>>;

interface Reader {
  issues: ConfigIssue[];
  source: string;
}

function complain(reader: Reader, key: string, message: string): void {
  reader.issues.push({ key, message, source: reader.source });
}

function readString(reader: Reader, key: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && value !== '') return value;
  complain(reader, key, `must be a non-empty string (got ${quoteValue(value)})`);
  return fallback;
}

function readInt(
  reader: Reader,
  key: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
  complain(reader, key, `must be a whole number from ${min} to ${max} (got ${quoteValue(value)})`);
  return fallback;
}

function readBool(reader: Reader, key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  complain(reader, key, `must be true or false (got ${quoteValue(value)})`);
  return fallback;
}

function readChoice<T extends string>(
  reader: Reader,
  key: string,
  value: unknown,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (choices as readonly string[]).includes(value))
    return value as T;
  complain(reader, key, `must be one of ${choices.join(', ')} (got ${quoteValue(value)})`);
  return fallback;
}

/** A tmux key name as `send-keys` takes it: `Enter`, `C-m`, `M-Enter`... (no `;`, no spaces). */
const ENTER_KEY = /^(?:[CMS]-){0,3}(?:Enter|Tab|Space|[!-:<-~])$/;

function readEnterKey(reader: Reader, value: unknown, fallback: string | null): string | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (typeof value === 'string' && ENTER_KEY.test(value)) return value;
  complain(
    reader,
    'agent.enterKey',
    `must be a tmux key name such as Enter or C-m (got ${quoteValue(value)})`,
  );
  return fallback;
}

function readArgv(reader: Reader, key: string, value: unknown): readonly string[] | null {
  if (value === undefined || value === null) return null;
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => typeof v === 'string' && v !== '')
  ) {
    return value as string[];
  }
  complain(
    reader,
    key,
    `must be a list of arguments, program first, e.g. ["kubectl", "exec", ...]; it never runs through a shell (got ${quoteValue(value)})`,
  );
  return null;
}

function readSection(reader: Reader, key: string, value: unknown, known: readonly string[]): Raw {
  if (value === undefined) return {};
  if (!isRecord(value)) {
    complain(reader, key, `must be a mapping (got ${quoteValue(value)})`);
    return {};
  }
  for (const inner of Object.keys(value)) {
    if (!known.includes(inner)) {
      complain(reader, `${key}.${inner}`, `unknown setting (known: ${known.join(', ')})`);
    }
  }
  return value;
}

const MAX_MS = 24 * 3_600_000;

/** A host to bind: an address or a name, nothing a URL or a shell would split. */
const HOST = /^[A-Za-z0-9.:_-]+$/;

function readEndpoint(
  reader: Reader,
  key: 'metrics' | 'inspect',
  value: unknown,
  base: EndpointConfig,
): EndpointConfig {
  // `metrics: true` is short for `metrics: {enabled: true}`.
  if (typeof value === 'boolean') return { ...base, enabled: value };
  const raw = readSection(reader, key, value, ENDPOINT_KEYS);
  let host = base.host;
  if (raw.host !== undefined) {
    if (typeof raw.host === 'string' && HOST.test(raw.host)) host = raw.host;
    else
      complain(
        reader,
        `${key}.host`,
        `must be an address or host name such as 127.0.0.1 or 0.0.0.0 (got ${quoteValue(raw.host)})`,
      );
  }
  return {
    enabled: readBool(reader, `${key}.enabled`, raw.enabled, base.enabled),
    host,
    port: readInt(reader, `${key}.port`, raw.port, base.port, 0, 65_535),
  };
}

/** `journal.path: off` (also false or null) turns the journal off; a path turns it on. */
function readJournal(reader: Reader, value: unknown, base: JournalConfig): JournalConfig {
  const raw = readSection(reader, 'journal', value, ['path', 'maxBytes', 'keep']);
  const off = raw.path === 'off' || raw.path === false || raw.path === null;
  const path =
    raw.path === undefined || off ? base.path : readString(reader, 'journal.path', raw.path, '');
  return {
    enabled: off ? false : raw.path === undefined ? base.enabled : true,
    path,
    maxBytes: readInt(reader, 'journal.maxBytes', raw.maxBytes, base.maxBytes, 4096, 2 ** 40),
    keep: readInt(reader, 'journal.keep', raw.keep, base.keep, 0, 100),
  };
}

export const DAEMON_KEYS = [
  'stateFile',
  'cgroup',
  'dryRun',
  'logLevel',
  'agent',
  'archive',
  'supervisor',
  'metrics',
  'inspect',
  'journal',
  'relaunchWindowMs',
];
const ENDPOINT_KEYS = ['enabled', 'host', 'port'];
const AGENT_KEYS = [
  'profile',
  'transport',
  'commands',
  'commandArgv',
  'pid',
  'pidfile',
  'actionTimeoutMs',
  'terminateGraceMs',
  'killAfterMs',
  'toolKillAfterMs',
  'tmuxTarget',
  'tmuxSocket',
  'enterKey',
  'busyPolicy',
  'idleDeadlineMs',
  'resume',
];

/** `agent.commands` (typed text) and `agent.commandArgv` (argv per action), each a section. */
function readRungCommands(
  reader: Reader,
  agentRaw: Raw,
  a: AgentConfig,
): Pick<AgentConfig, 'commands' | 'commandArgv'> {
  const commandsRaw = readSection(reader, 'agent.commands', agentRaw.commands, [
    'compact',
    'clear',
  ]);
  const argvRaw = readSection(reader, 'agent.commandArgv', agentRaw.commandArgv, [
    'compact',
    'clear',
  ]);
  const commandText = (action: ActionWithCommand): string | null => {
    const value = commandsRaw[action];
    if (value === null) return null;
    return readString(reader, `agent.commands.${action}`, value, a.commands[action] ?? '');
  };
  return {
    commands: {
      compact: commandsRaw.compact === undefined ? a.commands.compact : commandText('compact'),
      clear: commandsRaw.clear === undefined ? a.commands.clear : commandText('clear'),
    },
    commandArgv: {
      compact:
        argvRaw.compact === undefined
          ? a.commandArgv.compact
          : readArgv(reader, 'agent.commandArgv.compact', argvRaw.compact),
      clear:
        argvRaw.clear === undefined
          ? a.commandArgv.clear
          : readArgv(reader, 'agent.commandArgv.clear', argvRaw.clear),
    },
  };
}

/** The `agent` section over `a`. */
function readAgent(reader: Reader, raw: unknown, a: AgentConfig): AgentConfig {
  const agentRaw = readSection(reader, 'agent', raw, AGENT_KEYS);
  const nullableInt = (key: string, value: unknown, fallback: number | null): number | null =>
    value === null
      ? null
      : value === undefined
        ? fallback
        : readInt(reader, key, value, 0, 0, MAX_MS);
  const nullableString = (key: string, value: unknown, fallback: string | null): string | null =>
    value === null ? null : value === undefined ? fallback : readString(reader, key, value, '');
  return {
    profile: readChoice<ProfileName>(
      reader,
      'agent.profile',
      agentRaw.profile,
      PROFILE_NAMES,
      a.profile,
    ),
    transport:
      agentRaw.transport === undefined
        ? a.transport
        : readChoice<TransportKind>(
            reader,
            'agent.transport',
            agentRaw.transport,
            TRANSPORT_KINDS,
            'none',
          ),
    ...readRungCommands(reader, agentRaw, a),
    pid:
      agentRaw.pid === undefined
        ? a.pid
        : readInt(reader, 'agent.pid', agentRaw.pid, 0, 2, 2 ** 22),
    pidfile:
      agentRaw.pidfile === undefined
        ? a.pidfile
        : readString(reader, 'agent.pidfile', agentRaw.pidfile, ''),
    actionTimeoutMs: readInt(
      reader,
      'agent.actionTimeoutMs',
      agentRaw.actionTimeoutMs,
      a.actionTimeoutMs,
      100,
      MAX_MS,
    ),
    terminateGraceMs: readInt(
      reader,
      'agent.terminateGraceMs',
      agentRaw.terminateGraceMs,
      a.terminateGraceMs,
      0,
      MAX_MS,
    ),
    killAfterMs: nullableInt('agent.killAfterMs', agentRaw.killAfterMs, a.killAfterMs),
    toolKillAfterMs: readInt(
      reader,
      'agent.toolKillAfterMs',
      agentRaw.toolKillAfterMs,
      a.toolKillAfterMs,
      0,
      MAX_MS,
    ),
    tmuxTarget: nullableString('agent.tmuxTarget', agentRaw.tmuxTarget, a.tmuxTarget),
    tmuxSocket: nullableString('agent.tmuxSocket', agentRaw.tmuxSocket, a.tmuxSocket),
    enterKey: readEnterKey(reader, agentRaw.enterKey, a.enterKey),
    busyPolicy: readChoice<BusyPolicy>(
      reader,
      'agent.busyPolicy',
      agentRaw.busyPolicy,
      ['interrupt', 'skip'],
      a.busyPolicy,
    ),
    idleDeadlineMs: readInt(
      reader,
      'agent.idleDeadlineMs',
      agentRaw.idleDeadlineMs,
      a.idleDeadlineMs,
      0,
      MAX_MS,
    ),
    resume: readChoice<ResumeMode>(reader, 'agent.resume', agentRaw.resume, RESUME_MODES, a.resume),
  };
}

function readArchive(reader: Reader, raw: unknown, base: DaemonConfig['archive']) {
  const archiveRaw = readSection(reader, 'archive', raw, ['dir', 'paths', 'retain', 'deadlineMs']);
  let paths = base.paths;
  if (archiveRaw.paths !== undefined) {
    const value = archiveRaw.paths;
    if (Array.isArray(value) && value.every((p) => typeof p === 'string' && p !== '')) {
      paths = value as string[];
    } else complain(reader, 'archive.paths', `must be a list of paths (got ${quoteValue(value)})`);
  }
  return {
    dir: readString(reader, 'archive.dir', archiveRaw.dir, base.dir),
    paths,
    retain: readInt(reader, 'archive.retain', archiveRaw.retain, base.retain, 1, 10_000),
    deadlineMs: readInt(
      reader,
      'archive.deadlineMs',
      archiveRaw.deadlineMs,
      base.deadlineMs,
      100,
      MAX_MS,
    ),
  };
}

function readSupervisor(reader: Reader, raw: unknown, base: DaemonConfig['supervisor']) {
  const supervisorRaw = readSection(reader, 'supervisor', raw, ['intensity', 'periodMs']);
  return {
    intensity: readInt(
      reader,
      'supervisor.intensity',
      supervisorRaw.intensity,
      base.intensity,
      0,
      1000,
    ),
    periodMs: readInt(
      reader,
      'supervisor.periodMs',
      supervisorRaw.periodMs,
      base.periodMs,
      1,
      MAX_MS,
    ),
  };
}

/** Merges the daemon keys of `raw` over `base`; unknown keys inside sections are errors. */
export function resolveDaemon(
  raw: Raw,
  source: string,
  base: DaemonConfig,
): { config: DaemonConfig; issues: ConfigIssue[] } {
  const reader: Reader = { issues: [], source };
  const config: DaemonConfig = {
    stateFile: readString(reader, 'stateFile', raw.stateFile, base.stateFile),
    cgroup: raw.cgroup === undefined ? base.cgroup : readString(reader, 'cgroup', raw.cgroup, ''),
    dryRun: readBool(reader, 'dryRun', raw.dryRun, base.dryRun),
    logLevel: readChoice<LogLevel>(
      reader,
      'logLevel',
      raw.logLevel,
      ['debug', 'info', 'warn', 'error'],
      base.logLevel,
    ),
    agent: readAgent(reader, raw.agent, base.agent),
    archive: readArchive(reader, raw.archive, base.archive),
    supervisor: readSupervisor(reader, raw.supervisor, base.supervisor),
    metrics: readEndpoint(reader, 'metrics', raw.metrics, base.metrics),
    inspect: readEndpoint(reader, 'inspect', raw.inspect, base.inspect),
    journal: readJournal(reader, raw.journal, base.journal),
    relaunchWindowMs: readInt(
      reader,
      'relaunchWindowMs',
      raw.relaunchWindowMs,
      base.relaunchWindowMs,
      0,
      MAX_MS,
    ),
  };
  return { config, issues: reader.issues };
}

/**
 * Whether `memgov run -- CMD` starts the agent in a tmux session memgov owns: the terminal CLIs
 * (claude-code, codex, gemini, aider) read keys from a terminal, not lines from a pipe.
 */
export function launchesInTmux(agent: AgentConfig): boolean {
  return agent.transport === 'tmux' || (agent.transport === null && agent.profile !== 'generic');
}

/**
 * The transport in effect: as configured, else tmux when a pane is configured or memgov launched
 * the agent in tmux, else stdin when memgov launched the agent, else the command transport when
 * argv are configured, else none (observe and log only).
 */
export function resolveTransport(agent: AgentConfig, launched: boolean): TransportKind {
  if (agent.transport !== null) return agent.transport;
  if (agent.tmuxTarget !== null) return 'tmux';
  if (launched) return launchesInTmux(agent) ? 'tmux' : 'stdin';
  if (agent.commandArgv.compact !== null || agent.commandArgv.clear !== null) return 'command';
  return 'none';
}

/** Everything memgov runs with: the governor's policy and the daemon's settings. */
export interface MemgovConfig {
  readonly policy: PolicyConfig;
  readonly daemon: DaemonConfig;
}
