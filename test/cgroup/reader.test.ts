import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openCgroup, readCgroup, type CgroupReading } from '../../adapters/cgroup/reader.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/cgroup', import.meta.url));
const V1_CGROUP = '/process_api/6055ce7dab72bcb3986e601955a8c473';
const POD =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope';
const V2_DIR = `${FIXTURES}/v2/fs/cgroup${POD}`;
const variant = (name: string) => `${FIXTURES}/v2-variants/${name}`;

/** v1 has no PSI per cgroup: the reading carries the system's, where the kernel has PSI. */
const HOST_PRESSURE = existsSync('/proc/pressure/memory')
  ? { pressureSomeAvg10Pct: expect.any(Number) as number }
  : {};

function sample(options: Parameters<typeof openCgroup>[0]): CgroupReading {
  return openCgroup(options).andThen(readCgroup)._unsafeUnwrap();
}

describe('openCgroup + readCgroup on the real v1 capture', () => {
  it('locates the memory hierarchy via /proc and falls back to host MemTotal', () => {
    const handle = openCgroup({
      procRoot: `${FIXTURES}/v1-proc`,
      sysRoot: `${FIXTURES}/v1`,
    })._unsafeUnwrap();
    expect(handle.version).toBe(1);
    expect(handle.dir).toBe(`${FIXTURES}/v1/fs/cgroup/memory${V1_CGROUP}`);
    expect(handle.meminfoPath).toBe(`${FIXTURES}/v1-proc/meminfo`);
    expect(readCgroup(handle)._unsafeUnwrap()).toEqual({
      version: 1,
      dir: handle.dir,
      currentBytes: 56856576,
      inactiveFileBytes: 21921792,
      workingSetBytes: 56856576 - 21921792,
      limitBytes: 24684084 * 1024,
      limitSource: 'host',
      oomKills: 0,
    });
  });

  it('reads a real finite limit from a child cgroup', () => {
    expect(sample({ dir: `${FIXTURES}/v1-limited` })).toEqual({
      version: 1,
      dir: `${FIXTURES}/v1-limited`,
      currentBytes: 27787264,
      inactiveFileBytes: 0,
      workingSetBytes: 27787264,
      limitBytes: 64 * 1024 * 1024,
      limitSource: 'max',
      oomKills: 0,
      ...HOST_PRESSURE,
    });
  });

  it('precomputes every path in the handle', () => {
    const handle = openCgroup({ dir: `${FIXTURES}/v1-limited` })._unsafeUnwrap();
    expect(handle).toEqual({
      version: 1,
      dir: `${FIXTURES}/v1-limited`,
      meminfoPath: '/proc/meminfo',
      paths: {
        usage: `${FIXTURES}/v1-limited/memory.usage_in_bytes`,
        limit: `${FIXTURES}/v1-limited/memory.limit_in_bytes`,
        stat: `${FIXTURES}/v1-limited/memory.stat`,
        oomControl: `${FIXTURES}/v1-limited/memory.oom_control`,
        pressure: '/proc/pressure/memory',
      },
    });
  });
});

describe('openCgroup + readCgroup on v2 pods', () => {
  const pod: Omit<CgroupReading, 'dir' | 'limitBytes' | 'limitSource'> = {
    version: 2,
    currentBytes: 1241513984,
    inactiveFileBytes: 268435456,
    workingSetBytes: 973078528,
    oomKills: 1,
    pressureSomeAvg10Pct: 1.53,
  };

  it('locates the pod cgroup under the cgroup2 mount and reads memory.max', () => {
    const reading = sample({ procRoot: `${FIXTURES}/v2-proc`, sysRoot: `${FIXTURES}/v2` });
    expect(reading).toEqual({
      ...pod,
      dir: V2_DIR,
      limitBytes: 2147483648,
      limitSource: 'max',
    });
  });

  it('locates a container whose cgroup2 mount root is its own cgroup', () => {
    const reading = sample({
      procRoot: `${FIXTURES}/v2-container-proc`,
      sysRoot: `${FIXTURES}/v2-container`,
    });
    expect(reading).toEqual({
      version: 2,
      dir: `${FIXTURES}/v2-container/fs/cgroup`,
      currentBytes: 524288000,
      inactiveFileBytes: 83886080,
      workingSetBytes: 440401920,
      limitBytes: 1073741824,
      limitSource: 'max',
      oomKills: 0,
      pressureSomeAvg10Pct: 0,
    });
  });

  it('precomputes every path in the handle', () => {
    expect(openCgroup({ dir: V2_DIR, procRoot: '/p' })._unsafeUnwrap()).toEqual({
      version: 2,
      dir: V2_DIR,
      meminfoPath: '/p/meminfo',
      paths: {
        current: `${V2_DIR}/memory.current`,
        max: `${V2_DIR}/memory.max`,
        high: `${V2_DIR}/memory.high`,
        stat: `${V2_DIR}/memory.stat`,
        events: `${V2_DIR}/memory.events`,
        pressure: `${V2_DIR}/memory.pressure`,
        // The pod's parents in this fixture hold no memory.max: the walk stops at once.
        ancestorMax: [],
      },
    });
  });

  it('falls back to a numeric memory.high when memory.max is max', () => {
    expect(sample({ dir: variant('high-fallback') })).toEqual({
      ...pod,
      dir: variant('high-fallback'),
      limitBytes: 1610612736,
      limitSource: 'high',
    });
  });

  it('falls back to host MemTotal when memory.max and memory.high are both max', () => {
    expect(sample({ dir: variant('host-fallback'), procRoot: `${FIXTURES}/v2-proc` })).toEqual({
      ...pod,
      dir: variant('host-fallback'),
      limitBytes: 16369084 * 1024,
      limitSource: 'host',
    });
  });

  it('names a missing memory.stat', () => {
    const error = openCgroup({ dir: variant('no-stat') })
      .andThen(readCgroup)
      ._unsafeUnwrapErr();
    expect(error).toEqual({
      kind: 'missing-file',
      file: `${variant('no-stat')}/memory.stat`,
      detail: 'no such file',
    });
  });

  it.each([
    ['garbage-current', 'lots of memory'],
    ['negative-current', '-4096'],
    ['huge-current', '18446744073709551615'],
  ])('names memory.current of the %s variant as garbled', (name, shown) => {
    const error = openCgroup({ dir: variant(name) })
      .andThen(readCgroup)
      ._unsafeUnwrapErr();
    expect(error).toEqual({
      kind: 'garbled',
      file: `${variant(name)}/memory.current`,
      detail: `expected a byte count, got ${JSON.stringify(shown)}`,
    });
  });

  it('names a missing /proc/meminfo when the host fallback needs it', () => {
    const error = openCgroup({ dir: variant('host-fallback'), procRoot: `${FIXTURES}/nowhere` })
      .andThen(readCgroup)
      ._unsafeUnwrapErr();
    expect(error).toMatchObject({ kind: 'missing-file', file: `${FIXTURES}/nowhere/meminfo` });
  });
});

describe('openCgroup errors', () => {
  let scratch: string | undefined;
  afterEach(() => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
    scratch = undefined;
  });

  it('rejects a directory that holds no memory controller files', () => {
    expect(openCgroup({ dir: FIXTURES })._unsafeUnwrapErr()).toEqual({
      kind: 'no-memory-cgroup',
      file: FIXTURES,
      detail: 'neither memory.current (cgroup v2) nor memory.usage_in_bytes (cgroup v1) is there',
    });
  });

  it('rejects a directory that does not exist, or is a file', () => {
    expect(openCgroup({ dir: `${FIXTURES}/nowhere` })._unsafeUnwrapErr()).toEqual({
      kind: 'no-memory-cgroup',
      file: `${FIXTURES}/nowhere`,
      detail: 'no such directory',
    });
    expect(openCgroup({ dir: `${V2_DIR}/memory.max` })._unsafeUnwrapErr().detail).toBe(
      'not a directory',
    );
  });

  it('names a missing /proc/self/cgroup when locating', () => {
    expect(openCgroup({ procRoot: `${FIXTURES}/nowhere` })._unsafeUnwrapErr()).toEqual({
      kind: 'missing-file',
      file: `${FIXTURES}/nowhere/self/cgroup`,
      detail: 'no such file',
    });
  });

  it('reports a located directory missing under sysRoot as no memory cgroup', () => {
    const error = openCgroup({
      procRoot: `${FIXTURES}/v2-proc`,
      sysRoot: `${FIXTURES}/v1`,
    })._unsafeUnwrapErr();
    expect(error).toEqual({
      kind: 'no-memory-cgroup',
      file: `${FIXTURES}/v1/fs/cgroup${POD}`,
      detail: 'no such directory',
    });
  });

  it('calls a file that cannot be read unreadable, with the errno', () => {
    scratch = mkdtempSync(join(tmpdir(), 'memgov-reader-'));
    writeFileSync(join(scratch, 'memory.usage_in_bytes'), '4096\n');
    writeFileSync(join(scratch, 'memory.limit_in_bytes'), '8192\n');
    writeFileSync(join(scratch, 'memory.stat'), 'total_inactive_file 0\n');
    // A directory in place of the file: EISDIR, which (unlike EACCES) even root cannot bypass.
    mkdirSync(join(scratch, 'memory.oom_control'));
    const handle = openCgroup({ dir: scratch })._unsafeUnwrap();
    expect(readCgroup(handle)._unsafeUnwrapErr()).toEqual({
      kind: 'unreadable',
      file: join(scratch, 'memory.oom_control'),
      detail: 'EISDIR: illegal operation on a directory',
    });
  });

  it('never reports a negative working set when inactive exceeds current', () => {
    scratch = mkdtempSync(join(tmpdir(), 'memgov-reader-'));
    writeFileSync(join(scratch, 'memory.usage_in_bytes'), '4096\n');
    writeFileSync(join(scratch, 'memory.limit_in_bytes'), '8192\n');
    writeFileSync(join(scratch, 'memory.stat'), 'total_inactive_file 12288\n');
    writeFileSync(join(scratch, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\n');
    expect(sample({ dir: scratch })).toMatchObject({
      currentBytes: 4096,
      inactiveFileBytes: 12288,
      workingSetBytes: 0,
      limitBytes: 8192,
      oomKills: 0,
    });
  });
});
