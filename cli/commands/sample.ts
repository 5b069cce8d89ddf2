// `memgov sample`: read the cgroup once and print what memgov sees (docs/DESIGN.md#command-line). The first
// thing an SRE runs in a pod to check that memgov found the right cgroup and limit.
import { resolve } from 'node:path';
import { formatCgroupError } from '../../adapters/cgroup/parse.ts';
import { openCgroup, readCgroup, type CgroupReading } from '../../adapters/cgroup/reader.ts';
import { stringFlag, type FlagSpec } from '../args.ts';
import { openCommand } from '../command.ts';
import { EXIT_FAILURE, EXIT_OK, type CliIo } from '../io.ts';

export const SAMPLE_USAGE = `Usage: memgov sample [--cgroup DIR] [--json]

Reads the memory cgroup once and prints what memgov sees (all amounts in bytes).

  --cgroup DIR      read this cgroup directory instead of locating it via /proc/self
  --json            print one JSON line: version, cgroup, current, inactiveFile,
                    workingSet, limit, limitSource, ratio, oomKills
  --proc-root DIR   testing aid: a directory standing in for /proc
  --sys-root DIR    testing aid: a directory standing in for /sys
  --help            show this help
`;

const SAMPLE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  cgroup: { kind: 'string' },
  json: { kind: 'boolean' },
  'proc-root': { kind: 'string' },
  'sys-root': { kind: 'string' },
};

const MIB = 1024 * 1024;

/** Working set over limit; null when the limit is 0 (a ratio would be infinite). */
function ratioOf(reading: CgroupReading): number | null {
  return reading.limitBytes > 0 ? reading.workingSetBytes / reading.limitBytes : null;
}

/** The `--json` line, keys in the order docs/DESIGN.md#command-line lists them. */
export function sampleJson(reading: CgroupReading): string {
  return JSON.stringify({
    version: reading.version,
    cgroup: reading.dir,
    current: reading.currentBytes,
    inactiveFile: reading.inactiveFileBytes,
    workingSet: reading.workingSetBytes,
    limit: reading.limitBytes,
    limitSource: reading.limitSource,
    ratio: ratioOf(reading),
    oomKills: reading.oomKills,
  });
}

const LIMIT_SOURCE_NOTE: Readonly<Record<CgroupReading['limitSource'], string>> = {
  max: '',
  high: '  (memory.high: no hard limit set)',
  parent: "  (a parent cgroup's limit, tighter than this one's)",
  host: '  (host MemTotal: no cgroup limit set)',
};

/** A small aligned table for people: bytes, then MiB. */
export function sampleTable(reading: CgroupReading): string {
  const amounts: [string, number, string][] = [
    ['current', reading.currentBytes, ''],
    ['inactive file', reading.inactiveFileBytes, ''],
    ['working set', reading.workingSetBytes, ''],
    ['limit', reading.limitBytes, LIMIT_SOURCE_NOTE[reading.limitSource]],
  ];
  const bytesWidth = Math.max(...amounts.map(([, bytes]) => String(bytes).length));
  const mibWidth = Math.max(...amounts.map(([, bytes]) => (bytes / MIB).toFixed(1).length));
  const ratio = ratioOf(reading);
  const rows = [
    ['cgroup', `${reading.dir} (v${reading.version})`],
    ...amounts.map(([label, bytes, note]) => [
      label,
      `${String(bytes).padStart(bytesWidth)} B  ${(bytes / MIB).toFixed(1).padStart(mibWidth)} MiB${note}`,
    ]),
    [
      'ratio',
      ratio === null ? 'n/a (limit is 0)' : `${ratio.toFixed(4)} (${(ratio * 100).toFixed(1)}%)`,
    ],
    ['oom kills', String(reading.oomKills)],
  ];
  const labelWidth = Math.max(...rows.map(([label]) => (label ?? '').length));
  return rows.map(([label, value]) => `${(label ?? '').padEnd(labelWidth)}  ${value}\n`).join('');
}

function runSample(argv: readonly string[], io: CliIo): number {
  const opened = openCommand(argv, io, {
    name: 'sample',
    flags: SAMPLE_FLAGS,
    help: SAMPLE_USAGE,
    positional: null,
  });
  if (opened.isErr()) return opened.error;
  const { args } = opened.value;
  // Resolve against the CLI's cwd so messages and the JSON name absolute directories.
  const absolute = (path: string | undefined) =>
    path === undefined ? undefined : resolve(io.cwd, path);
  const result = openCgroup({
    dir: absolute(stringFlag(args, 'cgroup')),
    procRoot: absolute(stringFlag(args, 'proc-root')),
    sysRoot: absolute(stringFlag(args, 'sys-root')),
  }).andThen(readCgroup);
  if (result.isErr()) {
    io.err(`memgov sample: ${formatCgroupError(result.error)}\n`);
    return EXIT_FAILURE;
  }
  io.out(args.flags['json'] === true ? `${sampleJson(result.value)}\n` : sampleTable(result.value));
  return EXIT_OK;
}

/** `memgov sample [--cgroup DIR] [--json]`: 0 printed, 1 cgroup unreadable, 2 bad usage. */
export function sampleCommand(argv: readonly string[], io: CliIo): Promise<number> {
  return Promise.resolve(runSample(argv, io));
}
