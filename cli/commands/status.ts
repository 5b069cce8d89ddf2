// `memgov status [--json]`: what the state file says (tier, ratio, windows, last actions, kernel
// OOM kills) and whether a memgov holds the lock. Reads only; never takes the lock, so it works
// beside a running daemon.
import { loadConfig } from '../config.ts';
import { formatCgroupError } from '../../adapters/cgroup/parse.ts';
import { openCgroup, readOomGroup } from '../../adapters/cgroup/reader.ts';
import { liveLockOwner } from '../../adapters/lock.ts';
import { formatStateFileError, readStateFile } from '../../adapters/state-file.ts';
import type { PolicyConfig } from '../../machines/config.ts';
import type { PersistedSystem } from '../../actors/persistence.ts';
import { compactInWindow } from '../../machines/policy.ts';
import { tierOf } from '../../machines/records.ts';
import { stringFlag } from '../args.ts';
import { openCommand } from '../command.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from '../io.ts';

export const STATUS_HELP = `Usage: memgov status [--json] [--state-file FILE] [--config FILE] [--cgroup DIR]

Prints whether a memgov runs here (from the lock), the memory at the last sample against the
thresholds, the ladder (the last compact and when its window closes), polling, the last actions
and their results, and kernel OOM kills seen. Also whether the cgroup (--cgroup DIR, the
configured one, or this process's own) has memory.oom.group set: then a kernel OOM kill takes
every process in it, memgov too (cgroup v2 only). --json adds runningPid and severity.
`;

/** The cgroup's memory.oom.group, or why it is not known (never fails the command). */
function oomGroupOf(dir: string | null): { oomGroup: boolean | null; oomGroupNote?: string } {
  const group = openCgroup(dir === null ? {} : { dir }).andThen((handle) =>
    readOomGroup(handle).map((value) => ({ value, dir: handle.dir })),
  );
  if (group.isErr()) return { oomGroup: null, oomGroupNote: formatCgroupError(group.error) };
  const { value, dir: found } = group.value;
  if (value === null) return { oomGroup: null };
  const note = value
    ? `a kernel OOM kill in ${found} kills every process there, memgov too`
    : `a kernel OOM kill in ${found} kills only its victim`;
  return { oomGroup: value, oomGroupNote: note };
}

function statusOf(system: PersistedSystem, savedAtMs: number, policy: PolicyConfig) {
  const governor = system.context?.governor ?? null;
  if (governor === null)
    return { decided: false as const, savedAtMs, supervisor: system.value ?? null };
  const decision = governor.decision;
  const t = decision?.t ?? governor.facts.clockMs ?? 0;
  const lastCompact = governor.facts.lastCompact;
  return {
    decided: true as const,
    savedAtMs,
    supervisor: system.value ?? null,
    restarts: system.context?.restarts ?? null,
    tier: tierOf(governor.facts, t, policy),
    ratio: decision?.ratio ?? null,
    usedBytes: decision?.usedBytes ?? null,
    limitBytes: decision?.limitBytes ?? null,
    speed: governor.facts.speed,
    nextSampleAtMs: decision?.nextSampleAtMs ?? null,
    compactWindow:
      lastCompact === null
        ? null
        : {
            compactAtMs: lastCompact.atMs,
            compactRatio: lastCompact.ratio,
            endsAtMs: lastCompact.atMs + policy.compactWindowMs,
            open: compactInWindow(governor.facts, t, policy),
            clearedSinceCompact: governor.facts.clearedSinceCompact,
          },
    tier3Armed: governor.facts.tier3Armed,
    // Where the ratio stands against the thresholds now: the ladder's tier is the compact window's
    // memory (a relaunched agent at 5% is still "tier 2" until the window closes), not severity.
    severity: severityOf(decision?.ratio ?? null, policy),
    actions: governor.actions,
    oomKills: governor.oom,
  };
}

type Severity = 'unknown' | 'normal' | 'compact' | 'clear' | 'terminate';

function severityOf(ratio: number | null, policy: PolicyConfig): Severity {
  if (ratio === null) return 'unknown';
  if (ratio >= policy.terminateAt) return 'terminate';
  if (ratio >= policy.clearAt) return 'clear';
  return ratio >= policy.compactAt ? 'compact' : 'normal';
}

const SEVERITY_WORDS: Readonly<Record<Severity, string>> = {
  unknown: 'no ratio recorded',
  normal: 'below compactAt: nothing to do',
  compact: 'at or above compactAt (tier 1 zone)',
  clear: 'at or above clearAt (tier 2 zone)',
  terminate: 'at or above terminateAt (tier 3 zone)',
};

/** Bytes for people: MiB below a GiB, GiB above, one decimal. */
export function humanBytes(bytes: number | null | undefined): string {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '-';
  const mib = bytes / 1024 ** 2;
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${mib.toFixed(1)} MiB`;
}

/** "3 min ago" / "in 12 min" from `nowMs`. */
export function relative(ms: number, nowMs: number): string {
  const minutes = Math.round(Math.abs(nowMs - ms) / 60_000);
  const span =
    minutes < 1
      ? 'under a minute'
      : minutes < 120
        ? `${minutes} min`
        : `${Math.round(minutes / 60)} h`;
  return ms <= nowMs ? `${span} ago` : `in ${span}`;
}

type Status = ReturnType<typeof statusOf> & ReturnType<typeof oomGroupOf> & RunningFacts;

interface RunningFacts {
  /** The pid of the memgov holding the lock now; null when none runs here. */
  readonly runningPid: number | null;
  readonly nowMs: number;
}

/** The ladder in words: never compacted, or when the compact was and when its window closes. */
function ladderLine(status: Extract<Status, { decided: true }>): string {
  const w = status.compactWindow;
  if (w === null) return 'no compact yet';
  const when = `compacted ${relative(w.compactAtMs, status.nowMs)} at ${pct(w.compactRatio)}`;
  const cleared = w.clearedSinceCompact ? ', cleared since' : '';
  const window = w.open
    ? `window open, closes ${iso(w.endsAtMs)} (${relative(w.endsAtMs, status.nowMs)})`
    : 'window closed';
  return `tier ${status.tier}: ${when}${cleared}; ${window}`;
}

function pct(r: number | null | undefined): string {
  return r === null || r === undefined ? '-' : `${(r * 100).toFixed(1)}%`;
}

function iso(ms: number | null | undefined): string {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

function oomGroupLine(status: ReturnType<typeof oomGroupOf>): string[] {
  if (status.oomGroup === null) return [];
  return [`oom group     ${status.oomGroup ? 1 : 0}: ${status.oomGroupNote ?? ''}`];
}

function runningLine(status: Status): string {
  return status.runningPid === null
    ? 'not running (no memgov holds the lock)'
    : `running (pid ${status.runningPid})`;
}

function human(status: Status): string {
  if (!status.decided) {
    const lines = [
      `memgov        ${runningLine(status)}`,
      `saved ${iso(status.savedAtMs)}; no decision recorded yet`,
      ...oomGroupLine(status),
    ];
    return `${lines.join('\n')}\n`;
  }
  const lines = [
    `memgov        ${runningLine(status)}`,
    `memory        ${pct(status.ratio)}: ${humanBytes(status.usedBytes)} of ${humanBytes(status.limitBytes)}, ${SEVERITY_WORDS[status.severity]}`,
    `ladder        ${ladderLine(status)}${status.tier3Armed ? '' : ' (tier 3 fired; re-arms below compactAt or for a new agent)'}`,
    `polling       ${status.speed}, next sample ${iso(status.nextSampleAtMs)}`,
    `oom kills     ${status.oomKills.kills}${status.oomKills.lastAtMs === null ? '' : `, last ${iso(status.oomKills.lastAtMs)} at tier ${String(status.oomKills.tierAtLast)}`}`,
    ...oomGroupLine(status),
    `saved         ${iso(status.savedAtMs)} (${relative(status.savedAtMs, status.nowMs)})`,
    'actions:',
    ...(status.actions.length === 0
      ? ['  none']
      : status.actions.map(
          (a) =>
            `  #${a.seq} ${iso(a.atMs)} ${a.action} at ${pct(a.ratio)}: ${a.outcome}${a.detail === null ? '' : ` (${a.detail})`}`,
        )),
  ];
  return `${lines.join('\n')}\n`;
}

export function statusCommand(argv: readonly string[], io: CliIo): number {
  const opened = openCommand(argv, io, {
    name: 'status',
    flags: {
      json: { kind: 'boolean' },
      'state-file': { kind: 'string' },
      config: { kind: 'string' },
      cgroup: { kind: 'string' },
    },
    help: STATUS_HELP,
    positional: null,
  });
  if (opened.isErr()) return opened.error;
  const { args } = opened.value;
  const config = loadConfig({ file: stringFlag(args, 'config'), env: io.env });
  if (config.isErr()) {
    io.err(config.error.map((p) => `memgov status: ${p}\n`).join(''));
    return EXIT_USAGE;
  }
  const path = stringFlag(args, 'state-file') ?? config.value.daemon.stateFile;
  const read = readStateFile(path);
  if (read.isErr()) {
    io.err(`memgov status: ${formatStateFileError(read.error)}\n`);
    return EXIT_FAILURE;
  }
  const state = read.value;
  if (state.kind !== 'ok') {
    const why =
      state.kind === 'missing'
        ? 'no state file (memgov has not run here yet)'
        : `unusable: ${state.reason}`;
    io.err(`memgov status: ${path}: ${why}\n`);
    return EXIT_FAILURE;
  }
  const status = {
    ...statusOf(state.snapshot as PersistedSystem, state.savedAtMs, config.value.policy),
    ...oomGroupOf(stringFlag(args, 'cgroup') ?? config.value.daemon.cgroup),
    runningPid: liveLockOwner(`${path}.lock`),
    nowMs: Date.now(),
  };
  io.out(args.flags.json === true ? `${JSON.stringify(status)}\n` : human(status));
  return EXIT_OK;
}
