// `memgov start --detach`: `memgov run` detached, returning at once (for a Kubernetes postStart
// hook). The instance lock makes a second copy exit at once, so the entrypoint's loop and the hook
// can both start one (docs/DESIGN.md#persistence).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { agentDataDir } from '../../adapters/config-file.ts';
import { acquireLock } from '../../adapters/lock.ts';
import { stringFlag, type FlagSpec } from '../args.ts';
import { openCommand, usageError } from '../command.ts';
import { EXIT_FAILURE, EXIT_OK, type CliIo } from '../io.ts';
import { resolveRunConfig, RUN_FLAGS } from './run.ts';

export const START_HELP = `Usage: memgov start --detach [run options] [-- AGENT COMMAND...]

Starts 'memgov run' in the background and returns at once (for a Kubernetes postStart hook).
When a memgov already governs here it says so and starts nothing.

  --detach           required: run in the background
  --log-file FILE    where the background run logs (default: $AGENT_DATA/memgov.log)
  --help             show this help

Every 'memgov run' option applies too (memgov run --help).
`;

const START_FLAGS: Readonly<Record<string, FlagSpec>> = {
  ...RUN_FLAGS,
  detach: { kind: 'boolean' },
  'log-file': { kind: 'string' },
};

/** The run arguments: start's own flags removed, the agent command after `--` untouched. */
function withoutStartFlags(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return [...kept, ...argv.slice(i)];
    if (arg === '--detach' || arg.startsWith('--log-file=')) continue;
    if (arg === '--log-file') {
      i++;
      continue;
    }
    kept.push(arg);
  }
  return kept;
}

export function startCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const spec = {
    name: 'start',
    flags: START_FLAGS,
    help: START_HELP,
    positional: null,
    agentCommand: true,
  };
  const opened = openCommand(argv, io, spec);
  if (opened.isErr()) return Promise.resolve(opened.error);
  const { args } = opened.value;
  if (args.flags.detach !== true) return Promise.resolve(usageError(io, spec, 'needs --detach'));
  // Validate before detaching: a bad config must fail here, where someone sees it.
  const config = resolveRunConfig('start', args, io);
  if (typeof config === 'number') return Promise.resolve(config);
  // Say so when one already governs here (the detached copy would only exit at once).
  const probe = acquireLock(`${config.daemon.stateFile}.lock`);
  if (probe.isErr() && probe.error.kind === 'held') {
    io.out(`memgov already governs here (pid ${probe.error.ownerPid}); nothing started\n`);
    return Promise.resolve(EXIT_OK);
  }
  if (probe.isOk()) probe.value.release();
  const logFile = stringFlag(args, 'log-file') ?? `${agentDataDir(io.env)}/memgov.log`;
  let out: number;
  try {
    mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
    out = openSync(logFile, 'a', 0o600);
  } catch (error) {
    io.err(`memgov start: cannot open log file ${logFile}: ${(error as Error).message}\n`);
    return Promise.resolve(EXIT_FAILURE);
  }
  const script = process.argv[1] ?? '';
  const child = spawn(
    process.execPath,
    [...process.execArgv, script, 'run', ...withoutStartFlags(argv)],
    {
      detached: true,
      stdio: ['ignore', out, out],
      env: process.env,
    },
  );
  child.unref();
  io.out(`memgov started in the background (pid ${child.pid ?? '?'}), logging to ${logFile}\n`);
  return Promise.resolve(EXIT_OK);
}
