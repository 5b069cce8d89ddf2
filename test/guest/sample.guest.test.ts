// `memgov sample` against a real cgroup v2 memory controller (the guest's kernel): what it prints
// is what the kernel's memory.current, memory.max, memory.high, memory.stat and memory.events say,
// and the limit falls back from memory.max to memory.high to the guest's MemTotal.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePressureSomeAvg10 } from '../../adapters/cgroup/parse.ts';
import { openCgroup, readCgroup } from '../../adapters/cgroup/reader.ts';
import { BUNDLE } from '../support/cli.ts';
import { Cleanup } from '../support/daemon.ts';
import { createV2Cgroup, delegateMemory, MIB, startAllocator, type V2Cgroup } from './cgroup.ts';

interface SampleJson {
  readonly version: number;
  readonly cgroup: string;
  readonly current: number;
  readonly inactiveFile: number;
  readonly workingSet: number;
  readonly limit: number;
  readonly limitSource: string;
  readonly ratio: number;
  readonly oomKills: number;
}

/** `memgov sample --json`, as the shipped bundle; `joinFirst` runs it inside that cgroup. */
function sampleJson(args: readonly string[], joinFirst?: string): SampleJson {
  const argv = [BUNDLE, 'sample', '--json', ...args];
  const run =
    joinFirst === undefined
      ? spawnSync(process.execPath, argv, { encoding: 'utf8' })
      : spawnSync(
          '/bin/sh',
          ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', joinFirst, process.execPath, ...argv],
          { encoding: 'utf8' },
        );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as SampleJson;
}

function memTotalBytes(): number {
  const match = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return Number(match?.[1]) * 1024;
}

function kernelView(cgroup: V2Cgroup) {
  return {
    current: Number(cgroup.file('memory.current')),
    inactiveFile: cgroup.counter('memory.stat', 'inactive_file'),
    oomKills: cgroup.counter('memory.events', 'oom_kill'),
  };
}

describe('memgov sample on a real cgroup v2 kernel', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('prints what memory.current, memory.max, memory.stat and memory.events say', async () => {
    const cgroup = createV2Cgroup(cleanup, { maxBytes: 128 * MIB });
    const allocator = await startAllocator(cleanup, cgroup);
    await allocator.command('grow 24 4 0', 'grown', 30_000);
    const before = kernelView(cgroup);
    const sample = sampleJson(['--cgroup', cgroup.dir]);
    const after = kernelView(cgroup);
    expect(sample).toMatchObject({
      version: 2,
      cgroup: cgroup.dir,
      limit: 128 * MIB,
      limitSource: 'max',
      oomKills: 0,
    });
    // The allocator sits idle: the kernel's figures hold still between the reads around the CLI.
    expect(sample.current).toBeGreaterThanOrEqual(Math.min(before.current, after.current));
    expect(sample.current).toBeLessThanOrEqual(Math.max(before.current, after.current));
    expect(sample.current).toBeGreaterThan(24 * MIB);
    expect(sample.inactiveFile).toBe(after.inactiveFile);
    expect(sample.workingSet).toBe(Math.max(0, sample.current - sample.inactiveFile));
    expect(sample.ratio).toBeCloseTo(sample.workingSet / (128 * MIB), 12);
  });

  it('finds its own cgroup from /proc/self when run inside it (no --cgroup)', () => {
    const cgroup = createV2Cgroup(cleanup, { maxBytes: 256 * MIB });
    const sample = sampleJson([], cgroup.dir);
    expect(sample).toMatchObject({ version: 2, cgroup: cgroup.dir, limit: 256 * MIB });
    expect(sample.limitSource).toBe('max');
    // The CLI's own memory is charged here now: node's heap, a few MiB at least.
    expect(sample.current).toBeGreaterThan(MIB);
  });

  it('takes the limit of a limited parent for a child cgroup without one ("parent")', () => {
    const parent = createV2Cgroup(cleanup, { maxBytes: 200 * MIB });
    delegateMemory(parent.dir);
    const child = createV2Cgroup(cleanup, { maxBytes: 'max' }, parent.dir);
    expect(sampleJson(['--cgroup', child.dir])).toMatchObject({
      cgroup: child.dir,
      limit: 200 * MIB,
      limitSource: 'parent',
    });
    const tighter = createV2Cgroup(cleanup, { maxBytes: 150 * MIB }, parent.dir);
    expect(sampleJson(['--cgroup', tighter.dir])).toMatchObject({
      limit: 150 * MIB,
      limitSource: 'max',
    });
  });

  it('reads PSI some avg10 from the cgroup memory.pressure with each sample', async () => {
    const cgroup = createV2Cgroup(cleanup, { maxBytes: 128 * MIB });
    const allocator = await startAllocator(cleanup, cgroup);
    await allocator.command('grow 16 4 0', 'grown', 30_000);
    const kernel = (): number =>
      parsePressureSomeAvg10(cgroup.file('memory.pressure'), 'memory.pressure')._unsafeUnwrap();
    const before = kernel();
    const reading = openCgroup({ dir: cgroup.dir }).andThen(readCgroup)._unsafeUnwrap();
    const after = kernel();
    // avg10 is recomputed every 2 s: the reading lies between the kernel's around it.
    expect(reading.pressureSomeAvg10Pct).toBeGreaterThanOrEqual(Math.min(before, after));
    expect(reading.pressureSomeAvg10Pct).toBeLessThanOrEqual(Math.max(before, after));
  });

  it('falls back from memory.max to memory.high, then to the MemTotal of the machine', () => {
    const throttled = createV2Cgroup(cleanup, { maxBytes: 'max', highBytes: 96 * MIB });
    expect(sampleJson(['--cgroup', throttled.dir])).toMatchObject({
      limit: 96 * MIB,
      limitSource: 'high',
    });
    const unlimited = createV2Cgroup(cleanup, { maxBytes: 'max' });
    expect(sampleJson(['--cgroup', unlimited.dir])).toMatchObject({
      limit: memTotalBytes(),
      limitSource: 'host',
    });
    const both = createV2Cgroup(cleanup, { maxBytes: 200 * MIB, highBytes: 96 * MIB });
    expect(sampleJson(['--cgroup', both.dir])).toMatchObject({
      limit: 200 * MIB,
      limitSource: 'max',
    });
  });
});
