// `memgov demo`: the whole ladder end to end on this machine in under a minute. A child memory
// cgroup with a small limit, a synthetic agent inside that grows and obeys /compact and /clear,
// and the real daemon governing it; each decision is shown live. The cgroup is removed at the
// end, also on Ctrl-C. Where no cgroup can be created, a simulated cgroup directory stands in.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createChildCgroup,
  removeChildCgroup,
  writableV1Parent,
} from '../../adapters/cgroup/v1-admin.ts';
import { loadConfig } from '../config.ts';
import type { Log, LogFields } from '../../actors/log.ts';
import { runDaemon } from '../daemon.ts';
import { stringFlag } from '../args.ts';
import { openCommand } from '../command.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from '../io.ts';

export const DEMO_HELP = `Usage: memgov demo [--limit-mib N] [--simulate] [--keep]

Runs the governor against a synthetic agent in a child memory cgroup of its own (cgroup v1,
root), showing every decision: compact at 70%, clear at 85%, archive and SIGTERM at 90%, then
the agent's relaunch. Takes about 25 s; the cgroup is removed at the end. Colour on a
terminal unless NO_COLOR is set.
  --limit-mib N   the cgroup's memory limit (default 256)
  --simulate      use a simulated cgroup directory even where a real one could be made
  --keep          keep the working directory (state file, archive) and print where it is
`;

const MiB = 1024 * 1024;
/** The demo ends this long after the agent was relaunched following tier 3. */
const AFTER_RELAUNCH_MS = 4_000;
const DEADLINE_MS = 90_000;

interface Stage {
  /** `cgroup` or `simulated cgroup`, for messages. */
  readonly label: string;
  readonly cgroupDir: string;
  readonly agentArgs: readonly string[];
  readonly cleanup: () => void;
  readonly oomKills: () => number | null;
}

function realStage(parent: string, limitBytes: number, io: CliIo): Stage | string {
  const created = createChildCgroup(parent, `memgov-demo-${process.pid}`, limitBytes);
  if (created.isErr()) return created.error;
  const dir = created.value;
  let removed = false;
  const cleanup = (): void => {
    if (removed) return;
    removed = true;
    const result = removeChildCgroup(dir, parent);
    if (result.isErr()) io.err(`memgov demo: ${result.error}\n`);
  };
  const oomKills = (): number | null => {
    try {
      const match = /oom_kill (\d+)/.exec(readFileSync(`${dir}/memory.oom_control`, 'utf8'));
      return match === null ? 0 : Number(match[1]);
    } catch {
      return null;
    }
  };
  return { label: 'cgroup', cgroupDir: dir, agentArgs: ['--join-cgroup', dir], cleanup, oomKills };
}

/** A directory laid out like a cgroup v1 memory controller, written by the simulated agent. */
function simulatedStage(work: string, limitBytes: number): Stage {
  const dir = join(work, 'simulated-cgroup');
  mkdirSync(dir);
  writeFileSync(join(dir, 'memory.usage_in_bytes'), '0\n');
  writeFileSync(join(dir, 'memory.limit_in_bytes'), `${limitBytes}\n`);
  writeFileSync(join(dir, 'memory.stat'), 'cache 0\nrss 0\ntotal_inactive_file 0\n');
  writeFileSync(join(dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
  writeFileSync(join(dir, 'memory.failcnt'), '0\n');
  return {
    label: 'simulated cgroup',
    cgroupDir: dir,
    agentArgs: ['--simulate-cgroup', dir],
    cleanup: () => undefined,
    oomKills: () => 0,
  };
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * An action's effect as the agent sees it: the working set before and after, and what that freed.
 * The agent keeps growing while it compacts, so "after" can be higher: say so, not "-5242880".
 */
export function effectLine(fields: LogFields): string {
  const before = Number(fields.usedBytesBefore);
  const after = Number(fields.usedBytesAfter);
  const freed = before - after;
  const change =
    freed >= 0 ? `freed ${mib(freed)}` : `grew ${mib(-freed)} meanwhile: the agent kept growing`;
  return `${String(fields.action)}: working set ${mib(before)} -> ${mib(after)} (${change})`;
}

/** Bold colour on a terminal, plain text in a pipe or with NO_COLOR (no-color.org). */
export function painter(
  io: CliIo,
  isTty: boolean,
): (text: string, colour: 'red' | 'yellow' | 'green') => string {
  const codes = { red: 31, yellow: 33, green: 32 } as const;
  const on = isTty && (io.env.NO_COLOR ?? '') === '';
  return (text, colour) => (on ? `\u001b[1;${codes[colour]}m${text}\u001b[0m` : text);
}

const ACTION_COLOURS = { compact: 'green', clear: 'yellow', 'archive-terminate': 'red' } as const;

function bar(ratio: number): string {
  const width = 30;
  const filled = Math.max(0, Math.min(width, Math.round(ratio * width)));
  return `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
}

/** Renders the daemon's log as a live terminal view and notices when the demo is done. */
function demoView(io: CliIo, startedMs: number, onRelaunchAfterTier3: () => void) {
  const paint = painter(io, process.stdout.isTTY === true);
  const actions: string[] = [];
  let archive: string | null = null;
  let tier3Seen = false;
  let lastLine = '';
  const at = (): string => `+${((Date.now() - startedMs) / 1000).toFixed(1).padStart(5)}s`;
  const show = (message: string, fields: LogFields = {}): void => {
    if (message === 'decision') {
      const ratio = Number(fields.ratio);
      const action = typeof fields.action === 'string' ? fields.action : null;
      const line = `${bar(ratio)} ${(ratio * 100).toFixed(1).padStart(5)}%  tier ${String(fields.tier)}  ${String(fields.speed).padEnd(7)}`;
      // Every action, and any change of the picture; not every identical sample.
      if (action === null && line === lastLine) return;
      lastLine = line;
      const mark =
        action === null
          ? ''
          : paint(
              `>>> ${action.toUpperCase()}`,
              ACTION_COLOURS[action as keyof typeof ACTION_COLOURS] ?? 'yellow',
            );
      io.out(`${at()}  ${line}  ${mark}\n`);
      if (action !== null) actions.push(action);
      if (action === 'archive-terminate') tier3Seen = true;
      return;
    }
    if (message === 'session archived') archive = String(fields.dir);
    if (message === 'action effect') {
      io.out(`${at()}  -- ${effectLine(fields)}\n`);
      return;
    }
    if (message === 'agent started' && tier3Seen) onRelaunchAfterTier3();
    if (
      ['agent started', 'agent exited', 'session archived', 'relaunching agent'].includes(message)
    ) {
      io.out(
        `${at()}  -- ${message}${fields.pid === undefined ? '' : ` (pid ${Number(fields.pid)})`}\n`,
      );
    } else if (message !== 'memgov started' && message !== 'stopping') {
      io.out(`${at()}  -- ${message} ${JSON.stringify(fields)}\n`);
    }
  };
  const log: Log = { debug: show, info: show, warn: show, error: show };
  return { log, actions, archive: () => archive };
}

export async function demoCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const opened = openCommand(argv, io, {
    name: 'demo',
    flags: {
      'limit-mib': { kind: 'string' },
      simulate: { kind: 'boolean' },
      keep: { kind: 'boolean' },
    },
    help: DEMO_HELP,
  });
  if (opened.isErr()) return opened.error;
  const { args } = opened.value;
  const limitMiB = Number(stringFlag(args, 'limit-mib') ?? 256);
  if (!Number.isInteger(limitMiB) || limitMiB < 128 || limitMiB > 4096) {
    io.err('memgov demo: --limit-mib must be a whole number from 128 to 4096\n');
    return EXIT_USAGE;
  }
  const limitBytes = limitMiB * MiB;
  const work = mkdtempSync(join(tmpdir(), 'memgov-demo-'));
  let stage: Stage | string = 'simulation was asked for';
  if (args.flags.simulate !== true) {
    const parent = writableV1Parent();
    stage = parent.isOk() ? realStage(parent.value, limitBytes, io) : parent.error;
  }
  if (typeof stage === 'string') {
    io.out(`memgov demo: no real cgroup (${stage}); using a simulated cgroup directory instead\n`);
    stage = simulatedStage(work, limitBytes);
  }
  const active = stage;
  // Last resort: whatever path the process leaves by, the cgroup goes.
  const onExit = (): void => active.cleanup();
  process.once('exit', onExit);

  let stop: (why: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => {
    stop = resolve;
  });
  const onSigint = (): void => stop('SIGINT');
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  const deadline = setTimeout(() => stop('deadline'), DEADLINE_MS);
  const startedMs = Date.now();
  const view = demoView(io, startedMs, () => setTimeout(() => stop('done'), AFTER_RELAUNCH_MS));

  const config = loadConfig({
    env: {},
    flags: { minPollMs: '250', urgentPollMs: '250' },
    daemonFlags: {
      cgroup: active.cgroupDir,
      stateFile: join(work, 'state', 'mem_governor_state'),
      logLevel: 'debug',
      agent: { terminateGraceMs: 5_000 },
      archive: { dir: join(work, 'archive'), paths: [join(work, 'session')] },
    },
  });
  if (config.isErr()) throw new Error(config.error.join('; '));
  const self = process.argv[1] ?? '';
  const agentCommand = [
    process.execPath,
    ...process.execArgv,
    self,
    'synthetic-agent',
    ...active.agentArgs,
    ...['--start-mib', '16', '--grow-mib-per-s', String(Math.round(limitMiB / 20))],
    ...['--compact-frees-pct', '8', '--clear-frees-pct', '5'],
    ...['--burst-mib-per-s', String(Math.round(limitMiB / 4)), '--max-mib', String(limitMiB)],
    ...['--session-dir', join(work, 'session')],
  ];
  io.out(
    `memgov demo: a ${limitMiB} MiB ${active.label} at ${active.cgroupDir}\n` +
      '  compact at 70%, clear at 85%, archive + SIGTERM at 90%; Ctrl-C stops the demo\n\n',
  );
  let daemonCode = EXIT_FAILURE;
  let oomKills: number | null = null;
  try {
    daemonCode = await runDaemon({ config: config.value, agentCommand, log: view.log, stopSignal });
  } finally {
    clearTimeout(deadline);
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigint);
    oomKills = active.oomKills();
    active.cleanup();
    process.removeListener('exit', onExit);
    io.out(
      `\nactions: ${view.actions.join(' -> ') || 'none'}\n` +
        `kernel OOM kills in the demo cgroup: ${oomKills ?? 'unknown'}\n` +
        `archive: ${archiveNote(view.archive(), args.flags.keep === true)}\n` +
        `${tiersReached(view.actions)}; ${active.label} removed\n`,
    );
    if (args.flags.keep === true) io.out(`working directory kept: ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
  const allTiers = tiersReached(view.actions) === 'all three tiers reached';
  return allTiers && oomKills === 0 && daemonCode === 0 ? EXIT_OK : EXIT_FAILURE;
}

/** Where the tier-3 archive is, or that it went with the working directory. */
function archiveNote(dir: string | null, kept: boolean): string {
  if (dir === null) return 'none';
  return kept ? dir : 'written, and removed with the working directory (--keep keeps it)';
}

function tiersReached(actions: readonly string[]): string {
  const reached = ['compact', 'clear', 'archive-terminate'].filter((a) => actions.includes(a));
  return reached.length === 3
    ? 'all three tiers reached'
    : `tiers reached: ${reached.join(', ') || 'none'}`;
}
