// `memgov run`: the daemon, in the foreground (the container entrypoint's loop runs it).
// `memgov start --detach` (cli/commands/start.ts) runs the same in the background.
import { loadConfig, type MemgovConfig } from '../config.ts';
import { createLog } from '../../actors/log.ts';
import { runDaemon } from '../daemon.ts';
import { stringFlag, type FlagSpec, type ParsedArgs } from '../args.ts';
import { openCommand } from '../command.ts';
import { EXIT_USAGE, stdoutIsTerminal, type CliIo } from '../io.ts';

export const RUN_HELP = `Usage: memgov run [options] [-- AGENT COMMAND...]

Governs the memory cgroup memgov runs in: samples it, decides, and acts on the agent.
With nothing configured it observes and logs what it would do.

  --config FILE          settings (JSON or YAML); MEMGOV_* variables also apply
  --cgroup DIR           the cgroup directory (default: this process's own memory cgroup)
  --state-file FILE      persisted state (default: $AGENT_DATA/config/mem_governor_state)
  --dry-run              decide and log, execute nothing
  --profile NAME         agent profile: generic, claude-code, codex, gemini or aider
  --transport KIND       none, stdin, command or tmux (default: tmux with a pane or a
                         terminal-CLI profile, else stdin when launching the agent)
  --agent-pid N          the agent's PID, to signal at tier 3
  --agent-pidfile FILE   a file holding the agent's PID (re-read on each use)
  --tmux-target PANE     the agent's tmux pane to attach to (agent:0.0, %3)
  --tmux-socket NAME     the tmux server: a socket name (tmux -L), or a path (tmux -S)
  --busy-policy POLICY   skip or interrupt: what tmux does when the agent is still busy
                         at the idle deadline (default: skip)
  --enter-key KEY        the tmux key that submits a typed command: Enter or C-m
  --resume WHICH         the session a relaunch after tier 3 resumes: conversation (the
                         one holding the latest compact summary, default), latest or none
  --log-format FORMAT    json (default when stdout is not a terminal) or pretty
  --log-level LEVEL      debug, info, warn or error (also MEMGOV_LOG_LEVEL)
  --metrics[=PORT]       serve Prometheus metrics on /metrics (default port 9470)
  --metrics-host HOST    the address the metrics listen on (default 127.0.0.1)
  --inspect[=PORT]       serve the live actors to the Stately inspector (default port 9471)
  --inspect-host HOST    the address the inspector listens on (default 127.0.0.1)
  --journal FILE         the decision journal (default: mem_governor_journal.jsonl beside
                         the state file); replay it with 'memgov replay FILE'
  --no-journal           keep no decision journal
  -- AGENT COMMAND...    launch the agent and relaunch it after tier 3: the generic profile
                         in its own process group, typing into its stdin; claude-code, codex,
                         gemini and aider (or --transport tmux) in a tmux session memgov owns
                         (memgov-agent-<pid>), resumed on the same session after tier 3;
                         a second tier 3 within relaunchWindowMs (30 min) starts it fresh,
                         a third ends memgov with exit code 4 (relaunch budget spent)

Exit codes: 0 ok (also when the launched agent exits on its own), 1 runtime failure,
2 bad usage or config, 3 restart budget spent, 4 relaunch budget spent.

'memgov start --detach' runs the same in the background (memgov start --help).
`;

export const RUN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  config: { kind: 'string' },
  cgroup: { kind: 'string' },
  'state-file': { kind: 'string' },
  'dry-run': { kind: 'boolean' },
  profile: { kind: 'string' },
  transport: { kind: 'string' },
  'agent-pid': { kind: 'string' },
  'agent-pidfile': { kind: 'string' },
  'tmux-target': { kind: 'string' },
  'tmux-socket': { kind: 'string' },
  'busy-policy': { kind: 'string' },
  'enter-key': { kind: 'string' },
  resume: { kind: 'string' },
  'log-format': { kind: 'string' },
  'log-level': { kind: 'string' },
  metrics: { kind: 'optional' },
  'metrics-host': { kind: 'string' },
  inspect: { kind: 'optional' },
  'inspect-host': { kind: 'string' },
  journal: { kind: 'string' },
  'no-journal': { kind: 'boolean' },
};

/** The opt-in endpoints: `--NAME[=PORT]` turns one on, `--NAME-host HOST` too. */
const ENDPOINT_FLAGS = ['metrics', 'inspect'] as const;

/** The flags that set daemon settings, and the config key each sets. */
const DAEMON_FLAGS: Readonly<Record<string, string>> = {
  cgroup: 'cgroup',
  'state-file': 'stateFile',
  'log-level': 'logLevel',
  profile: 'agent.profile',
  transport: 'agent.transport',
  'agent-pid': 'agent.pid',
  'agent-pidfile': 'agent.pidfile',
  'tmux-target': 'agent.tmuxTarget',
  'tmux-socket': 'agent.tmuxSocket',
  'busy-policy': 'agent.busyPolicy',
  'enter-key': 'agent.enterKey',
  resume: 'agent.resume',
};

/** Flags that set daemon settings, as a raw config layer (validated by loadConfig). */
function daemonFlags(args: ParsedArgs): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const agent: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(DAEMON_FLAGS)) {
    const value = stringFlag(args, flag);
    if (value === undefined) continue;
    if (key.startsWith('agent.')) agent[key.slice('agent.'.length)] = value;
    else raw[key] = value;
  }
  if (args.flags['dry-run'] === true) raw.dryRun = true;
  if (Object.keys(agent).length > 0) raw.agent = agent;
  for (const name of ENDPOINT_FLAGS) {
    const port = args.flags[name];
    const host = stringFlag(args, `${name}-host`);
    if (port === undefined && host === undefined) continue;
    raw[name] = {
      enabled: true,
      ...(typeof port === 'string' ? { port } : {}),
      ...(host === undefined ? {} : { host }),
    };
  }
  const journal = stringFlag(args, 'journal');
  if (journal !== undefined) raw.journal = { path: journal };
  if (args.flags['no-journal'] === true) raw.journal = { path: 'off' };
  return raw;
}

/** Names the flag behind each config key, so a bad value is reported against it. */
const DAEMON_FLAG_NAMES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.entries(DAEMON_FLAGS).map(([flag, key]) => [key, `--${flag}`])),
  'metrics.port': '--metrics',
  'metrics.host': '--metrics-host',
  'inspect.port': '--inspect',
  'inspect.host': '--inspect-host',
  'journal.path': '--journal',
};

export function resolveRunConfig(
  command: string,
  args: ParsedArgs,
  io: CliIo,
): MemgovConfig | number {
  const format = stringFlag(args, 'log-format');
  if (format !== undefined && format !== 'json' && format !== 'pretty') {
    io.err(`memgov ${command}: --log-format must be json or pretty (got "${format}")\n`);
    return EXIT_USAGE;
  }
  if (args.flags['no-journal'] === true && args.flags.journal !== undefined) {
    io.err(`memgov ${command}: --journal and --no-journal contradict each other\n`);
    return EXIT_USAGE;
  }
  const config = loadConfig({
    file: stringFlag(args, 'config'),
    env: io.env,
    daemonFlags: daemonFlags(args),
    daemonFlagNames: { ...DAEMON_FLAG_NAMES, dryRun: '--dry-run' },
  });
  if (config.isErr()) {
    io.err(config.error.map((problem) => `memgov ${command}: ${problem}\n`).join(''));
    return EXIT_USAGE;
  }
  return config.value;
}

export async function runCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const opened = openCommand(argv, io, {
    name: 'run',
    flags: RUN_FLAGS,
    help: RUN_HELP,
    positional: null,
    agentCommand: true,
  });
  if (opened.isErr()) return opened.error;
  const { args } = opened.value;
  const config = resolveRunConfig('run', args, io);
  if (typeof config === 'number') return config;
  const format = stringFlag(args, 'log-format') ?? (stdoutIsTerminal() ? 'pretty' : 'json');
  const log = createLog({
    level: config.daemon.logLevel,
    format: format === 'pretty' ? 'pretty' : 'json',
    // Written synchronously to fd 1 like every other output of the CLI, so the daemon never
    // builds process.stdout (cli/io.ts, stdoutIsTerminal, says what that costs).
    writeLine: (line) => io.out(line),
  });
  return runDaemon({ config, agentCommand: args.rest, log });
}
