// cgroup faults against the whole daemon (runDaemon in process, dry run, 100 ms polls) on a fixture
// tree the test rewrites while it runs: a file vanishes, holds garbage, is empty or cut short, says
// `max`, 2^64-1, a value past Number.MAX_SAFE_INTEGER, a negative or NaN-like number; the limit
// changes; the cgroup directory goes away; the process moves to another cgroup. In every case the
// daemon keeps running, logs an error naming the file, decides no action on the bad reading, and
// governs again (a compact at 75%) once the file is good. Every fixture sits at 41-45%: any
// misreading that inflated the ratio would decide an action, which the test would see.
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Result } from 'neverthrow';
import { formatCgroupError } from '../../adapters/cgroup/parse.ts';
import { createCgroupReader, type CgroupReading } from '../../adapters/cgroup/reader.ts';
import { loadConfig } from '../../cli/config.ts';
import { readStateFile } from '../../adapters/state-file.ts';
import { memoryLog } from '../../actors/log.ts';
import { EXIT_BUDGET_SPENT, runDaemon } from '../../cli/daemon.ts';
import type { GovernorContext } from '../../machines/governor.machine.ts';
import { cgroupParent, Cleanup, createTestCgroup, MIB, pollUntil } from '../support/daemon.ts';

const FIXTURES = new URL('../fixtures/cgroup/', import.meta.url).pathname;
const POD =
  'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope';
/** v1-limited: usage 27787264 bytes of 64 MiB (0.41), no inactive file cache. */
const V1_LIMIT = 64 * MIB;
const V1_USAGE = 27_787_264;
/** v2 pod: current 1241513984, inactive_file 256 MiB, memory.max 2 GiB (working set 0.45). */
const V2_LIMIT = 2 * 1024 * MIB;
const V2_INACTIVE = 256 * MIB;

const WAIT_MS = 5_000;
/** Failed reads to see before the file is repaired: the daemon must ride out repeats, not one. */
const FAILURES_BEFORE_REPAIR = 3;

type Version = 'v1' | 'v2';
type LogRecord = ReturnType<typeof memoryLog>['records'][number];

interface Governed {
  readonly dir: string;
  readonly stateFile: string;
  readonly log: ReturnType<typeof memoryLog>;
  readonly done: Promise<number>;
  write(name: string, text: string): void;
  /** Sets memory.limit_in_bytes as the kernel would, memory.stat following (v1 fixture). */
  setV1Limit(text: string): void;
  /** The first record from index `from` on that matches, waiting for it. */
  waitFor(what: string, match: (r: LogRecord) => boolean, from?: number): Promise<LogRecord>;
  decisions(from?: number): LogRecord[];
  failures(from?: number): LogRecord[];
  /** Sets the usage so that the ratio is `ratio` (of the fixture's limit). */
  setRatio(ratio: number): void;
}

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

function fixtureDir(version: Version): string {
  return version === 'v1' ? `${FIXTURES}v1-limited` : `${FIXTURES}v2/fs/cgroup/${POD}`;
}

function usageFile(version: Version): string {
  return version === 'v1' ? 'memory.usage_in_bytes' : 'memory.current';
}

/** Runs the daemon on a copy of the fixture cgroup; stopped and removed at cleanup. */
/**
 * v1's memory.stat reports `hierarchical_memory_limit`, the smallest limit up the hierarchy: with
 * no limited ancestor (as here) the kernel shows the cgroup's own limit there, so a limit written
 * to the fixture is mirrored into it (by rename: the daemon may be reading memory.stat).
 */
function mirrorHierarchicalLimit(dir: string, limitText: string): void {
  const stat = join(dir, 'memory.stat');
  if (!/^\d+$/.test(limitText.trim()) || !existsSync(stat)) return;
  const text = readFileSync(stat, 'utf8');
  const line = /^hierarchical_memory_limit \d+$/m;
  if (!line.test(text)) return;
  writeFileSync(`${stat}.new`, text.replace(line, `hierarchical_memory_limit ${limitText.trim()}`));
  renameSync(`${stat}.new`, stat);
}

function govern(
  version: Version,
  options: {
    readonly dir?: string;
    readonly read?: (real: () => Result<CgroupReading, string>) => Result<CgroupReading, string>;
  } = {},
): Governed {
  const work = mkdtempSync(join(tmpdir(), 'memgov-faults-'));
  cleanup.add(() => rmSync(work, { recursive: true, force: true }));
  const dir = options.dir ?? join(work, 'cgroup');
  if (options.dir === undefined) cpSync(fixtureDir(version), dir, { recursive: true });
  const config = loadConfig({
    env: {},
    flags: { relaxedPollMs: '100', fastPollMs: '100', minPollMs: '50', urgentPollMs: '50' },
    daemonFlags: { cgroup: dir, stateFile: join(work, 'state'), logLevel: 'debug', dryRun: true },
  })._unsafeUnwrap();
  const log = memoryLog();
  let stop: (why: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => (stop = resolve));
  const done = runDaemon({
    config,
    agentCommand: [],
    log,
    stopSignal,
    ...(options.read === undefined ? {} : { read: options.read }),
  });
  cleanup.add(async () => {
    stop('test over');
    await done;
  });
  const named = (message: string, from: number) =>
    log.records.slice(from).filter((r) => r.message === message);
  return {
    dir,
    stateFile: join(work, 'state'),
    log,
    done,
    write: (name, text) => writeFileSync(join(dir, name), text),
    setV1Limit: (text) => {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), text);
      mirrorHierarchicalLimit(dir, text);
    },
    waitFor: (what, match, from = 0) =>
      pollUntil(
        what,
        WAIT_MS,
        () => log.records.slice(from).find(match),
        () => JSON.stringify(log.records.slice(-5)),
      ),
    decisions: (from = 0) => named('decision', from),
    failures: (from = 0) => named('cgroup read failed', from),
    setRatio: (ratio) => {
      const bytes = version === 'v1' ? ratio * V1_LIMIT : ratio * V2_LIMIT + V2_INACTIVE; // working set
      writeFileSync(join(dir, usageFile(version)), `${Math.round(bytes)}\n`);
    },
  };
}

/** The OOM kills the governor has counted, as persisted in the state file. */
function oomKillsOnDisk(g: Governed): number | null {
  const read = readStateFile(g.stateFile)._unsafeUnwrap();
  if (read.kind !== 'ok') return null;
  const snapshot = read.snapshot as { context?: { governor?: GovernorContext | null } };
  return snapshot.context?.governor?.oom.kills ?? null;
}

const isDecision = (r: LogRecord): boolean => r.message === 'decision';
const actionOf = (r: LogRecord): unknown => r.fields.action;

/** The fault's failures, then a repair, then a compact once memory really is at 75%. */
async function faultThenRecover(
  g: Governed,
  inject: () => void,
  repair: () => void,
  expectDetail: RegExp,
): Promise<LogRecord> {
  await g.waitFor('the first decision', isDecision);
  const faultAt = g.log.records.length;
  inject();
  await pollUntil(`${FAILURES_BEFORE_REPAIR} failed reads`, WAIT_MS, () =>
    g.failures(faultAt).length >= FAILURES_BEFORE_REPAIR ? true : undefined,
  );
  const failure = g.failures(faultAt)[0] as LogRecord;
  expect(failure.level).toBe('error');
  expect(String(failure.fields.detail)).toMatch(expectDetail);
  // Repeats do not flood the log: only the first failure is at error level.
  expect(
    new Set(
      g
        .failures(faultAt)
        .slice(1)
        .map((r) => r.level),
    ),
  ).toEqual(new Set(['debug']));
  // No sample got through while the file was bad: nothing was decided on it.
  const repairAt = g.log.records.length;
  expect(g.decisions(faultAt).slice(0, -1)).toEqual([]);
  repair();
  const recovered = await g.waitFor('a decision after the repair', isDecision, repairAt);
  expect(actionOf(recovered)).toBeNull();
  const back = await g.waitFor(
    'the recovery',
    (r) => r.message === 'cgroup read recovered',
    repairAt,
  );
  expect(back.fields.failures).toBeGreaterThanOrEqual(FAILURES_BEFORE_REPAIR);
  g.setRatio(0.75);
  const compact = await g.waitFor(
    'a compact at 75% after the repair',
    (r) => isDecision(r) && actionOf(r) !== null,
    repairAt,
  );
  expect(compact.fields).toMatchObject({ action: 'compact', reason: 'tier1-compact' });
  // The only action of the whole run is that compact: the faults decided nothing.
  expect(g.decisions().filter((r) => actionOf(r) !== null)).toEqual([compact]);
  expect(g.log.records.some((r) => r.message === 'supervisor crashed')).toBe(false);
  return failure;
}

interface FileFault {
  readonly version: Version;
  readonly file: string;
  readonly fault: string;
  /** The file's content during the fault; null deletes it. */
  readonly content: string | null;
  readonly detail: RegExp;
}

const GARBAGE_BYTES = '\u0000\u00ff\u00fe\u0007garbage\u001b[2J\n';
const TWO_TO_64_MINUS_1 = '18446744073709551615\n';
const BEYOND_SAFE = '9007199254740993\n';

const missing = (version: Version, file: string): FileFault => ({
  version,
  file,
  fault: 'deleted',
  content: null,
  detail: new RegExp(`${file.replace('.', '\\.')} is missing: no such file`),
});

function garbled(
  version: Version,
  file: string,
  fault: string,
  content: string,
  detail = /is garbled: expected a byte count/,
): FileFault {
  return { version, file, fault, content, detail };
}

const FILE_FAULTS: readonly FileFault[] = [
  missing('v1', 'memory.usage_in_bytes'),
  missing('v1', 'memory.limit_in_bytes'),
  missing('v1', 'memory.stat'),
  missing('v1', 'memory.oom_control'),
  missing('v2', 'memory.current'),
  missing('v2', 'memory.max'),
  missing('v2', 'memory.stat'),
  missing('v2', 'memory.events'),
  garbled('v1', 'memory.usage_in_bytes', 'garbage bytes', GARBAGE_BYTES),
  garbled('v1', 'memory.usage_in_bytes', 'empty', ''),
  garbled('v1', 'memory.usage_in_bytes', 'max', 'max\n'),
  garbled('v1', 'memory.usage_in_bytes', '2^64-1', TWO_TO_64_MINUS_1),
  garbled('v1', 'memory.usage_in_bytes', 'past MAX_SAFE_INTEGER', BEYOND_SAFE),
  garbled('v1', 'memory.usage_in_bytes', 'negative', '-27787264\n'),
  garbled('v1', 'memory.usage_in_bytes', 'NaN', 'NaN\n'),
  garbled('v1', 'memory.usage_in_bytes', 'Infinity', 'Infinity\n'),
  garbled('v1', 'memory.usage_in_bytes', 'exponent', '2.7e7\n'),
  garbled('v1', 'memory.usage_in_bytes', 'hex', '0x1a80000\n'),
  garbled('v1', 'memory.usage_in_bytes', 'two numbers', '27787264 27787264\n'),
  garbled(
    'v1',
    'memory.usage_in_bytes',
    'huge but safe (2^50)',
    `${2 ** 50}\n`,
    /more than 2x the limit 67108864 bytes \(.*memory\.limit_in_bytes\)/,
  ),
  garbled('v1', 'memory.limit_in_bytes', 'garbage bytes', GARBAGE_BYTES),
  garbled('v1', 'memory.limit_in_bytes', 'empty', ''),
  garbled('v1', 'memory.limit_in_bytes', 'max (v2 syntax)', 'max\n'),
  garbled('v1', 'memory.limit_in_bytes', 'negative', '-1\n'),
  garbled(
    'v1',
    'memory.limit_in_bytes',
    'partial write "67"',
    '67',
    /usage 27787264 bytes is more than 2x the limit 67 bytes/,
  ),
  garbled(
    'v1',
    'memory.stat',
    'partial write (cut mid-line)',
    'cache 0\nrss 27787264\nrss_huge 0\nshmem 0\nmapped_fi',
    /memory\.stat is garbled: expected a "key value" line, got "mapped_fi"/,
  ),
  garbled(
    'v1',
    'memory.stat',
    'empty',
    '',
    /memory\.stat is garbled: expected a line for total_inactive_file or inactive_file/,
  ),
  garbled(
    'v1',
    'memory.stat',
    'negative total_inactive_file',
    'total_inactive_file -4096\n',
    /expected a count for total_inactive_file, got "-4096"/,
  ),
  garbled(
    'v1',
    'memory.oom_control',
    'garbage bytes',
    GARBAGE_BYTES,
    /memory\.oom_control is garbled/,
  ),
  garbled('v2', 'memory.current', 'garbage bytes', GARBAGE_BYTES),
  garbled('v2', 'memory.current', 'empty', ''),
  garbled('v2', 'memory.current', 'max', 'max\n'),
  garbled('v2', 'memory.current', '2^64-1', TWO_TO_64_MINUS_1),
  garbled('v2', 'memory.current', 'negative', '-1\n'),
  garbled(
    'v2',
    'memory.max',
    '2^64-1',
    TWO_TO_64_MINUS_1,
    /memory\.max is garbled: expected a byte count or "max"/,
  ),
  garbled(
    'v2',
    'memory.max',
    'past MAX_SAFE_INTEGER',
    BEYOND_SAFE,
    /memory\.max is garbled: expected a byte count or "max"/,
  ),
  garbled(
    'v2',
    'memory.max',
    'NaN',
    'NaN\n',
    /memory\.max is garbled: expected a byte count or "max"/,
  ),
  garbled(
    'v2',
    'memory.max',
    'partial write "2147"',
    '2147',
    /usage 1241513984 bytes is more than 2x the limit 2147 bytes \(.*memory\.max\)/,
  ),
  garbled(
    'v2',
    'memory.events',
    'a line without a value',
    'low 0\nhigh 0\nmax 12\noom 1\noom_kill\n',
    /memory\.events is garbled: expected a "key value" line, got "oom_kill"/,
  ),
  garbled(
    'v2',
    'memory.events',
    'a negative counter',
    'oom_kill -1\n',
    /memory\.events is garbled: expected a count for oom_kill, got "-1"/,
  ),
];

describe('a cgroup file goes bad while the daemon runs, then is repaired', () => {
  it.each(FILE_FAULTS)(
    '$version $file: $fault',
    async ({ version, file, content, detail }) => {
      const g = govern(version);
      const original = join(fixtureDir(version), file);
      const failure = await faultThenRecover(
        g,
        () => (content === null ? unlinkSync(join(g.dir, file)) : g.write(file, content)),
        () => cpSync(original, join(g.dir, file)),
        detail,
      );
      // The message names the file by its full path.
      const named = String(failure.fields.detail);
      const faulty = detail.source.includes('more than 2x') ? usageFile(version) : file;
      expect(named).toContain(join(g.dir, faulty));
    },
    15_000,
  );
});

describe('values that look odd but are the kernel telling the truth', () => {
  it('v1 limit 2^64-1 is "no limit": the host MemTotal becomes the limit, nothing is decided', async () => {
    const g = govern('v1');
    await g.waitFor('the first decision', isDecision);
    const at = g.log.records.length;
    g.setV1Limit(TWO_TO_64_MINUS_1);
    const host = await g.waitFor(
      'a decision against the host limit',
      (r) => isDecision(r) && r.fields.limitBytes !== V1_LIMIT,
      at,
    );
    expect(Number(host.fields.limitBytes)).toBeGreaterThan(V1_LIMIT);
    expect(Number(host.fields.ratio)).toBeLessThan(0.1);
    expect(g.failures()).toEqual([]);
    expect(g.decisions().filter((r) => actionOf(r) !== null)).toEqual([]);
  });

  it('v2 memory.max "max" falls back to memory.high, then to the host', async () => {
    const g = govern('v2');
    await g.waitFor('the first decision', isDecision);
    let at = g.log.records.length;
    g.write('memory.high', `${1536 * MIB}\n`);
    g.write('memory.max', 'max\n');
    const high = await g.waitFor(
      'a decision against memory.high',
      (r) => isDecision(r) && r.fields.limitBytes === 1536 * MIB,
      at,
    );
    expect(Number(high.fields.ratio)).toBeCloseTo((1241513984 - V2_INACTIVE) / (1536 * MIB), 3);
    at = g.log.records.length;
    g.write('memory.high', 'max\n');
    const host = await g.waitFor(
      'a decision against the host',
      (r) => isDecision(r) && Number(r.fields.limitBytes) > V2_LIMIT,
      at,
    );
    expect(Number(host.fields.ratio)).toBeLessThan(0.2);
    expect(g.failures()).toEqual([]);
  });

  it('usage past twice memory.high is real (high only throttles): read, not refused', () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-high-'));
    cleanup.add(() => rmSync(work, { recursive: true, force: true }));
    const dir = join(work, 'cgroup');
    cpSync(fixtureDir('v2'), dir, { recursive: true });
    writeFileSync(join(dir, 'memory.max'), 'max\n');
    writeFileSync(join(dir, 'memory.high'), `${256 * MIB}\n`);
    const reader = createCgroupReader({ dir })._unsafeUnwrap();
    expect(reader.read()._unsafeUnwrap()).toMatchObject({
      currentBytes: 1241513984,
      limitBytes: 256 * MIB,
      limitSource: 'high',
    });
    // The same usage against a hard limit of 256 MiB is refused.
    writeFileSync(join(dir, 'memory.max'), `${256 * MIB}\n`);
    expect(formatCgroupError(reader.read()._unsafeUnwrapErr())).toMatch(
      /memory\.current is garbled: usage 1241513984 bytes is more than 2x the limit 268435456 bytes/,
    );
  });

  it('v2 memory.events: unknown keys, blank lines, no final newline, a counter reset and a rise', async () => {
    const g = govern('v2');
    await g.waitFor('the first decision', isDecision);
    const at = g.log.records.length;
    g.write(
      'memory.events',
      '\nlow 0\nhigh 0\n\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\nsock_throttled 7',
    );
    await pollUntil('three decisions with odd lines', WAIT_MS, () =>
      g.decisions(at).length >= 3 ? true : undefined,
    );
    // The cgroup was recreated (its counter starts again at 0): a new baseline, not a kill.
    g.write('memory.events', 'oom_kill 0\n');
    await pollUntil('decisions after the reset', WAIT_MS, () =>
      g.decisions(at).length >= 6 ? true : undefined,
    );
    expect(oomKillsOnDisk(g)).toBe(0);
    g.write('memory.events', 'oom 2\noom_kill 2\n');
    // Two kills since the reset, none counted for the fixture's old 1 or for the reset itself.
    await pollUntil('the two OOM kills on disk', WAIT_MS, () =>
      oomKillsOnDisk(g) === 2 ? true : undefined,
    );
    expect(g.failures()).toEqual([]);
    expect(g.decisions().filter((r) => actionOf(r) !== null)).toEqual([]);
  });
});

describe('the limit changes while the daemon runs', () => {
  it('the ratio follows the limit down and up, and the ladder climbs on limit cuts alone', async () => {
    const g = govern('v1');
    const first = await g.waitFor('the first decision', isDecision);
    expect(first.fields).toMatchObject({ limitBytes: V1_LIMIT, action: null });
    const decideAt = async (limitBytes: number): Promise<LogRecord> => {
      const at = g.log.records.length;
      g.setV1Limit(`${limitBytes}\n`);
      return g.waitFor(
        `a decision at limit ${limitBytes}`,
        (r) => isDecision(r) && r.fields.limitBytes === limitBytes,
        at,
      );
    };
    // 26.5 MiB used: 36 MiB is 0.736 (compact), 256 MiB is 0.10, 31 MiB 0.855 and climbing
    // since the compact (clear), 29 MiB 0.914 (archive and terminate).
    const cut = await decideAt(36 * MIB);
    expect(cut.fields).toMatchObject({ action: 'compact' });
    expect(Number(cut.fields.ratio)).toBeCloseTo(V1_USAGE / (36 * MIB), 3);
    const raised = await decideAt(256 * MIB);
    expect(raised.fields).toMatchObject({ action: null });
    expect(Number(raised.fields.ratio)).toBeCloseTo(V1_USAGE / (256 * MIB), 3);
    const again = await decideAt(31 * MIB);
    expect(again.fields).toMatchObject({ action: 'clear' });
    const last = await decideAt(29 * MIB);
    expect(last.fields).toMatchObject({ action: 'archive-terminate' });
    expect(
      g
        .decisions()
        .map(actionOf)
        .filter((a) => a !== null),
    ).toEqual(['compact', 'clear', 'archive-terminate']);
  });
});

describe('the cgroup directory goes away', () => {
  it('--cgroup DIR removed: an error naming the directory at each retry, governing again once it is back', async () => {
    const g = govern('v1');
    const aside = `${g.dir}.aside`;
    await faultThenRecover(
      g,
      () => renameSync(g.dir, aside),
      () => renameSync(aside, g.dir),
      /^no memory cgroup found \(checked .*\/cgroup\): the cgroup directory is gone/,
    );
  });

  it('a located cgroup: the process moved (old directory removed) is followed to its new cgroup', async () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-moved-'));
    cleanup.add(() => rmSync(work, { recursive: true, force: true }));
    const procRoot = join(work, 'proc');
    const sysRoot = join(work, 'sys');
    cpSync(`${FIXTURES}v2-proc`, procRoot, { recursive: true });
    cpSync(`${FIXTURES}v2`, sysRoot, { recursive: true });
    const oldDir = join(sysRoot, 'fs/cgroup', POD);
    const newPath = 'kubepods.slice/kubepods-burstable.slice/moved.scope';
    const newDir = join(sysRoot, 'fs/cgroup', newPath);
    const moves: string[] = [];
    const reader = createCgroupReader({
      procRoot,
      sysRoot,
      onMoved: (from, to) => moves.push(`${from} -> ${to}`),
    })._unsafeUnwrap();
    expect(reader.handle().dir).toBe(oldDir);
    const g = govern('v2', {
      dir: oldDir,
      read: () => reader.read().mapErr(formatCgroupError),
    });
    await g.waitFor('the first decision', isDecision);
    // The runtime moves the process (and its limit: 1 GiB here, at 80%), then removes the old one.
    cpSync(oldDir, newDir, { recursive: true });
    writeFileSync(join(newDir, 'memory.max'), `${1024 * MIB}\n`);
    writeFileSync(
      join(newDir, 'memory.current'),
      `${Math.round(0.8 * 1024 * MIB) + V2_INACTIVE}\n`,
    );
    writeFileSync(join(procRoot, 'self/cgroup'), `0::/${newPath}\n`);
    const at = g.log.records.length;
    rmSync(oldDir, { recursive: true });
    const followed = await g.waitFor(
      'a decision on the new cgroup',
      (r) => isDecision(r) && r.fields.limitBytes === 1024 * MIB,
      at,
    );
    expect(followed.fields).toMatchObject({ action: 'compact' });
    expect(moves).toEqual([`${oldDir} -> ${newDir}`]);
    expect(reader.handle().dir).toBe(newDir);
    // The move was seen on the first failed read: no error reached the log.
    expect(g.failures(at)).toEqual([]);
  });

  it('a located cgroup that is gone with nowhere to go: errors until it returns', () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-gone-'));
    cleanup.add(() => rmSync(work, { recursive: true, force: true }));
    cpSync(`${FIXTURES}v2-proc`, join(work, 'proc'), { recursive: true });
    cpSync(`${FIXTURES}v2`, join(work, 'sys'), { recursive: true });
    const moves: string[] = [];
    const reader = createCgroupReader({
      procRoot: join(work, 'proc'),
      sysRoot: join(work, 'sys'),
      onMoved: (from, to) => moves.push(`${from} -> ${to}`),
    })._unsafeUnwrap();
    const dir = reader.handle().dir;
    renameSync(dir, `${dir}.aside`);
    const error = reader.read()._unsafeUnwrapErr();
    expect(formatCgroupError(error)).toBe(
      `no memory cgroup found (checked ${dir}): the cgroup directory is gone (removed, or renamed)`,
    );
    renameSync(`${dir}.aside`, dir);
    expect(reader.read()._unsafeUnwrap().dir).toBe(dir);
    expect(moves).toEqual([]);
  });

  it('a --cgroup DIR is never swapped for the located one', () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-named-'));
    cleanup.add(() => rmSync(work, { recursive: true, force: true }));
    const dir = join(work, 'cgroup');
    cpSync(fixtureDir('v1'), dir, { recursive: true });
    const reader = createCgroupReader({ dir, procRoot: `${FIXTURES}v2-proc` })._unsafeUnwrap();
    unlinkSync(join(dir, 'memory.usage_in_bytes'));
    expect(reader.read()._unsafeUnwrapErr()).toMatchObject({
      kind: 'missing-file',
      file: join(dir, 'memory.usage_in_bytes'),
    });
    expect(reader.handle().dir).toBe(dir);
  });
});

describe('reads that throw or lie (the runDaemon read port)', () => {
  it('a read that throws once: the sampler is restarted, governing goes on', async () => {
    let throws = 0;
    const g = govern('v1', {
      read: (real) => {
        if (throws === 0) {
          throws++;
          throw new Error('EIO: the read blew up');
        }
        return real();
      },
    });
    const restart = await g.waitFor('the sampler restart', (r) => r.message === 'child restarted');
    expect(restart.fields).toMatchObject({ child: 'sampler' });
    await g.waitFor('a decision after the restart', isDecision);
    g.setRatio(0.75);
    await g.waitFor('a compact', (r) => isDecision(r) && actionOf(r) === 'compact');
  });

  it('a read that always throws: the restart budget is spent and memgov exits 3, having decided nothing', async () => {
    const g = govern('v1', {
      read: () => {
        throw new Error('EIO: the read blew up');
      },
    });
    expect(await g.done).toBe(EXIT_BUDGET_SPENT);
    const spent = g.log.records.find((r) => r.message.startsWith('restart budget spent'));
    expect(spent?.fields.failure).toEqual({ child: 'sampler', detail: 'EIO: the read blew up' });
    expect(g.decisions()).toEqual([]);
  });

  it.each([
    ['NaN usage', { currentBytes: Number.NaN }],
    ['negative usage', { currentBytes: -1, workingSetBytes: -1 }],
    ['a zero limit', { limitBytes: 0 }],
    ['an infinite limit', { limitBytes: Number.POSITIVE_INFINITY }],
  ])('a reading with %s is never acted on', async (_what, lie) => {
    let lying = false;
    const g = govern('v1', {
      read: (real) => real().map((reading) => (lying ? { ...reading, ...lie } : reading)),
    });
    await g.waitFor('the first decision', isDecision);
    g.setRatio(0.95);
    lying = true;
    const at = g.log.records.length;
    const invalid = await g.waitFor(
      'an invalid-sample decision',
      (r) => isDecision(r) && r.fields.reason === 'invalid-sample',
      at,
    );
    expect(actionOf(invalid)).toBeNull();
    await pollUntil('more lies', WAIT_MS, () => (g.decisions(at).length >= 3 ? true : undefined));
    expect(g.decisions().filter((r) => actionOf(r) !== null)).toEqual([]);
    lying = false;
    await g.waitFor('the compact once the truth is back', (r) => actionOf(r) === 'compact', at);
  });
});

const realSkip = cgroupParent.isErr() ? cgroupParent.error : '';

describe.skipIf(realSkip !== '')(
  `on a real cgroup v1 child${realSkip === '' ? '' : ` (skipped: ${realSkip})`}`,
  () => {
    /** A process in `dir` holding `mib` MiB of touched memory; killed with the cgroup at cleanup. */
    function hog(dir: string, mib: number): Promise<number> {
      const child = spawn(
        process.execPath,
        [
          '-e',
          `require('fs').writeFileSync(${JSON.stringify(`${dir}/cgroup.procs`)}, String(process.pid));
           globalThis.held = Buffer.alloc(${mib} * 1024 * 1024, 1);
           process.stdout.write('ready\\n');
           setInterval(() => {}, 1 << 30);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      cleanup.add(() => void child.kill('SIGKILL'));
      return new Promise((resolve, reject) => {
        child.stdout.once('data', () => resolve(child.pid ?? 0));
        child.once('exit', (code) =>
          reject(new Error(`the hog exited (${code}) before it was ready`)),
        );
      });
    }

    it('the kernel limit cut and raised, then the cgroup removed and made again', async () => {
      const cgroup = createTestCgroup(cleanup, 256 * MIB);
      const pid = await hog(cgroup.dir, 40);
      const g = govern('v1', { dir: cgroup.dir });
      const first = await g.waitFor('the first decision', isDecision);
      const usedBytes = Number(first.fields.usedBytes);
      expect(usedBytes).toBeGreaterThan(40 * MIB);
      // A limit that puts the ratio at ~0.78: compact. Page-aligned, so the kernel keeps it as is.
      const cutBytes = Math.ceil(usedBytes / 0.78 / 4096) * 4096;
      let at = g.log.records.length;
      writeFileSync(`${cgroup.dir}/memory.limit_in_bytes`, String(cutBytes));
      const cut = await g.waitFor(
        'a decision at the cut limit',
        (r) => isDecision(r) && r.fields.limitBytes === cutBytes,
        at,
      );
      expect(cut.fields.action).toBe('compact');
      at = g.log.records.length;
      writeFileSync(`${cgroup.dir}/memory.limit_in_bytes`, String(512 * MIB));
      const raised = await g.waitFor(
        'a decision at 512 MiB',
        (r) => isDecision(r) && r.fields.limitBytes === 512 * MIB,
        at,
      );
      expect(raised.fields.action).toBeNull();
      // The runtime removes the cgroup: its process leaves first (the kernel refuses otherwise).
      process.kill(pid, 'SIGKILL');
      await pollUntil('the hog to leave', WAIT_MS, () =>
        cgroup.pids().length === 0 ? true : undefined,
      );
      at = g.log.records.length;
      rmdirSync(cgroup.dir);
      const gone = await g.waitFor(
        'the read failure',
        (r) => r.message === 'cgroup read failed',
        at,
      );
      expect(gone.fields.detail).toBe(
        `no memory cgroup found (checked ${cgroup.dir}): the cgroup directory is gone (removed, or renamed)`,
      );
      at = g.log.records.length;
      mkdirSync(cgroup.dir);
      writeFileSync(`${cgroup.dir}/memory.limit_in_bytes`, String(128 * MIB));
      const back = await g.waitFor(
        'a decision on the new cgroup',
        (r) => isDecision(r) && r.fields.limitBytes === 128 * MIB,
        at,
      );
      expect(back.fields).toMatchObject({ action: null, usedBytes: 0 });
      expect(
        g
          .decisions()
          .filter((r) => actionOf(r) !== null)
          .map(actionOf),
      ).toEqual(['compact']);
    });
  },
);
