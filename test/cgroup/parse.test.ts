import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Result } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import {
  flatKeyedCount,
  formatCgroupError,
  locateMemoryCgroup,
  parseByteCount,
  parseFlatKeyed,
  parseMeminfoTotalBytes,
  parseMountinfo,
  parseOomControl,
  parseProcCgroup,
  parseV1HierarchicalLimit,
  parseV1InactiveFileBytes,
  parseV1Limit,
  parseV1Stat,
  parseV2InactiveFileBytes,
  parseV2Limit,
  parseV2OomKills,
  type CgroupError,
} from '../../adapters/cgroup/parse.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/cgroup/', import.meta.url));
const fixture = (path: string) => readFileSync(`${FIXTURES}${path}`, 'utf8');

// Captured on the project VM: a hybrid v1 host whose memory hierarchy is id 4.
const V1_CGROUP = '/process_api/6055ce7dab72bcb3986e601955a8c473';
const V1_DIR = `v1/fs/cgroup/memory${V1_CGROUP}`;
const POD =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope';
const V2_DIR = `v2/fs/cgroup${POD}`;

function garbledError(file: string, detail: string): CgroupError {
  return { kind: 'garbled', file, detail };
}

describe('parseProcCgroup', () => {
  it('reads every hierarchy of the real hybrid /proc/self/cgroup', () => {
    const entries = parseProcCgroup(fixture('v1-proc/self/cgroup'))._unsafeUnwrap();
    expect(entries).toHaveLength(10);
    expect(entries[0]).toEqual({ hierarchyId: 9, controllers: ['name=systemd'], path: '/' });
    expect(entries.find((e) => e.controllers.includes('memory'))).toEqual({
      hierarchyId: 4,
      controllers: ['memory'],
      path: V1_CGROUP,
    });
    expect(entries.at(-1)).toEqual({ hierarchyId: 0, controllers: [], path: '/' });
  });

  it('reads a pure v2 file and comounted v1 controllers', () => {
    expect(parseProcCgroup(fixture('v2-proc/self/cgroup'))._unsafeUnwrap()).toEqual([
      { hierarchyId: 0, controllers: [], path: POD },
    ]);
    expect(parseProcCgroup('3:cpu,cpuacct:/docker/abc\n')._unsafeUnwrap()).toEqual([
      { hierarchyId: 3, controllers: ['cpu', 'cpuacct'], path: '/docker/abc' },
    ]);
  });

  it('keeps colons inside the cgroup path', () => {
    expect(parseProcCgroup('0::/a:b/c')._unsafeUnwrap()[0]?.path).toBe('/a:b/c');
  });

  it.each([['memory:/x'], ['x:memory:/x'], ['4:memory:relative'], ['-1::/']])(
    'rejects %j naming the file',
    (line) => {
      expect(parseProcCgroup(`${line}\n`)._unsafeUnwrapErr()).toEqual(
        garbledError(
          '/proc/self/cgroup',
          `expected an "id:controllers:/path" line, got ${JSON.stringify(line)}`,
        ),
      );
    },
  );
});

describe('parseMountinfo', () => {
  it('reads the real v1 mountinfo, memory hierarchy included', () => {
    const mounts = parseMountinfo(fixture('v1-proc/self/mountinfo'))._unsafeUnwrap();
    expect(mounts).toHaveLength(20);
    expect(
      mounts.filter((m) => m.fsType === 'cgroup' && m.superOptions.includes('memory')),
    ).toEqual([
      {
        root: '/',
        mountPoint: '/sys/fs/cgroup/memory',
        fsType: 'cgroup',
        superOptions: ['rw', 'memory'],
      },
    ]);
    expect(mounts.find((m) => m.fsType === 'cgroup2')?.mountPoint).toBe('/sys/fs/cgroup/unified');
  });

  it('skips optional fields before the separator and decodes octal escapes', () => {
    const mounts = parseMountinfo(fixture('v2-proc/self/mountinfo'))._unsafeUnwrap();
    expect(mounts.find((m) => m.fsType === 'cgroup2')).toEqual({
      root: '/',
      mountPoint: '/sys/fs/cgroup',
      fsType: 'cgroup2',
      superOptions: ['rw', 'nsdelegate', 'memory_recursiveprot'],
    });
    expect(
      mounts.find((m) => m.fsType === 'tmpfs' && m.mountPoint === '/run')?.superOptions,
    ).toEqual(['rw', 'size=3270712k', 'mode=755']);
    expect(mounts.find((m) => m.mountPoint.startsWith('/mnt'))?.mountPoint).toBe('/mnt/agent data');
    expect(mounts.find((m) => m.fsType === 'nsfs')?.root).toBe('net:[4026532451]');
  });

  it('decodes tab, newline and backslash escapes', () => {
    const line = '40 1 0:1 /a\\011b /m\\012n\\134o rw - tmpfs tmpfs rw';
    expect(parseMountinfo(line)._unsafeUnwrap()[0]).toMatchObject({
      root: '/a\tb',
      mountPoint: '/m\nn\\o',
    });
  });

  it('reads the container view where the cgroup2 root is the pod cgroup', () => {
    const mounts = parseMountinfo(fixture('v2-container-proc/self/mountinfo'))._unsafeUnwrap();
    expect(mounts.find((m) => m.fsType === 'cgroup2')).toMatchObject({
      root: POD,
      mountPoint: '/sys/fs/cgroup',
    });
  });

  it.each([
    ['no separator', '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime cgroup cgroup rw,memory'],
    ['separator too early', '35 31 0:32 / - cgroup cgroup rw'],
    ['nothing after the separator', '35 31 0:32 / /x rw - cgroup'],
    ['relative mount point', '35 31 0:32 / x rw - cgroup cgroup rw'],
  ])('rejects a line with %s', (_why, line) => {
    const error = parseMountinfo(`${line}\n`)._unsafeUnwrapErr();
    expect(error.kind).toBe('garbled');
    expect(error.file).toBe('/proc/self/mountinfo');
    expect(error.detail).toMatch(/^expected a mountinfo line with a " - " separator, got "/);
  });
});

describe('locateMemoryCgroup', () => {
  it('finds the v1 memory hierarchy on the real hybrid host', () => {
    expect(
      locateMemoryCgroup(
        fixture('v1-proc/self/cgroup'),
        fixture('v1-proc/self/mountinfo'),
      )._unsafeUnwrap(),
    ).toEqual({ version: 1, dir: `/sys/fs/cgroup/memory${V1_CGROUP}` });
  });

  it('finds the pod cgroup under the cgroup2 mount', () => {
    expect(
      locateMemoryCgroup(
        fixture('v2-proc/self/cgroup'),
        fixture('v2-proc/self/mountinfo'),
      )._unsafeUnwrap(),
    ).toEqual({ version: 2, dir: `/sys/fs/cgroup${POD}` });
  });

  it('strips a mount root equal to the cgroup path (container without cgroup namespace)', () => {
    expect(
      locateMemoryCgroup(
        fixture('v2-container-proc/self/cgroup'),
        fixture('v2-container-proc/self/mountinfo'),
      )._unsafeUnwrap(),
    ).toEqual({ version: 2, dir: '/sys/fs/cgroup' });
    const v1Container = '4:memory:/kubepods/burstable/pod1/ctr\n0::/\n';
    const v1Mounts =
      '1 0 0:1 / / rw - overlay overlay rw\n' +
      '5 1 0:32 /kubepods/burstable/pod1/ctr /sys/fs/cgroup/memory ro,nosuid master:7 - cgroup cgroup rw,memory\n';
    expect(locateMemoryCgroup(v1Container, v1Mounts)._unsafeUnwrap()).toEqual({
      version: 1,
      dir: '/sys/fs/cgroup/memory',
    });
  });

  it('keeps the part of the path below the mount root', () => {
    const mounts = `9 1 0:24 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n`;
    expect(locateMemoryCgroup('0::/kubepods/pod1/ctr\n', mounts)._unsafeUnwrap().dir).toBe(
      '/sys/fs/cgroup/ctr',
    );
    // `/kubepods/pod10` merely starts with the characters of `/kubepods/pod1`: not below it.
    expect(locateMemoryCgroup('0::/kubepods/pod10\n', mounts)._unsafeUnwrap().dir).toBe(
      '/sys/fs/cgroup/kubepods/pod10',
    );
  });

  it('uses the mount point itself inside a cgroup namespace (0::/)', () => {
    const mounts = '9 1 0:24 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n';
    expect(locateMemoryCgroup('0::/\n', mounts)._unsafeUnwrap()).toEqual({
      version: 2,
      dir: '/sys/fs/cgroup',
    });
  });

  it('prefers the mount whose root contains the path', () => {
    const mounts =
      '9 1 0:24 /other /mnt/other rw - cgroup2 cgroup2 rw\n' +
      '10 1 0:24 /pod /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n';
    expect(locateMemoryCgroup('0::/pod/ctr\n', mounts)._unsafeUnwrap().dir).toBe(
      '/sys/fs/cgroup/ctr',
    );
  });

  it('refuses a path outside the mounted cgroup namespace', () => {
    const mounts = '9 1 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n';
    expect(locateMemoryCgroup('0::/../sibling\n', mounts)._unsafeUnwrapErr()).toEqual({
      kind: 'no-memory-cgroup',
      file: '/proc/self/mountinfo',
      detail: 'cgroup path /../sibling lies outside the cgroup tree mounted at /sys/fs/cgroup',
    });
  });

  it('reports a v1 memory controller that is not mounted', () => {
    const error = locateMemoryCgroup(
      '4:memory:/x\n0::/\n',
      '9 1 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
    )._unsafeUnwrapErr();
    expect(error).toEqual({
      kind: 'no-memory-cgroup',
      file: '/proc/self/mountinfo',
      detail:
        'the memory controller is on cgroup v1 hierarchy 4 but no cgroup mount carries the memory option',
    });
  });

  it('reports a v2 process without a cgroup2 mount', () => {
    const error = locateMemoryCgroup('0::/\n', '1 0 0:1 / / rw - ext4 /dev/vda rw\n');
    expect(error._unsafeUnwrapErr().detail).toBe(
      'the process is in a cgroup v2 hierarchy but no cgroup2 filesystem is mounted',
    );
  });

  it('reports a process in no memory hierarchy, naming the given files', () => {
    const files = { cgroup: '/fake/self/cgroup', mountinfo: '/fake/self/mountinfo' };
    expect(locateMemoryCgroup('3:cpu:/\n', '', files)._unsafeUnwrapErr()).toEqual({
      kind: 'no-memory-cgroup',
      file: '/fake/self/cgroup',
      detail: 'no "N:memory:/path" line (cgroup v1) and no "0::/path" line (cgroup v2)',
    });
    expect(locateMemoryCgroup('junk', '', files)._unsafeUnwrapErr().file).toBe('/fake/self/cgroup');
    expect(locateMemoryCgroup('0::/', 'junk', files)._unsafeUnwrapErr().file).toBe(
      '/fake/self/mountinfo',
    );
  });
});

describe('single-value files', () => {
  it('parses the real v1 counters', () => {
    expect(parseByteCount(fixture(`${V1_DIR}/memory.usage_in_bytes`), 'f')._unsafeUnwrap()).toBe(
      56856576,
    );
    expect(parseByteCount(fixture(`${V1_DIR}/memory.failcnt`), 'f')._unsafeUnwrap()).toBe(0);
    expect(parseByteCount(fixture('v1-limited/memory.usage_in_bytes'), 'f')._unsafeUnwrap()).toBe(
      27787264,
    );
  });

  it('parses v2 memory.current', () => {
    expect(parseByteCount(fixture(`${V2_DIR}/memory.current`), 'f')._unsafeUnwrap()).toBe(
      1241513984,
    );
  });

  it.each([
    ['garbage-current', 'lots of memory'],
    ['negative-current', '-4096'],
    ['huge-current', '18446744073709551615'],
  ])('rejects the %s variant, quoting it', (variant, shown) => {
    const file = `/sys/fs/cgroup/${variant}/memory.current`;
    expect(parseByteCount(fixture(`v2-variants/${variant}/memory.current`), file)).toEqual(
      expect.objectContaining({
        error: garbledError(file, `expected a byte count, got ${JSON.stringify(shown)}`),
      }),
    );
  });

  it.each([[''], ['\n'], ['1.5'], ['1e9'], ['+12'], ['0x10'], ['12 34'], ['max']])(
    'rejects %j as a byte count',
    (text) => {
      expect(parseByteCount(text, 'f')._unsafeUnwrapErr().kind).toBe('garbled');
    },
  );

  it('accepts the largest safe integer and nothing above it', () => {
    expect(parseByteCount(`${Number.MAX_SAFE_INTEGER}\n`, 'f')._unsafeUnwrap()).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expect(parseByteCount('9007199254740992\n', 'f').isErr()).toBe(true);
  });

  it('truncates long offending text in the message', () => {
    const detail = parseByteCount('x'.repeat(100), 'f')._unsafeUnwrapErr().detail;
    expect(detail).toBe(`expected a byte count, got "${'x'.repeat(40)}…"`);
  });
});

describe('limits', () => {
  it('reads v2 max as unlimited and numbers as bytes', () => {
    expect(parseV2Limit(fixture(`${V2_DIR}/memory.high`), 'f')._unsafeUnwrap()).toBe('unlimited');
    expect(parseV2Limit(fixture(`${V2_DIR}/memory.max`), 'f')._unsafeUnwrap()).toBe(2147483648);
    expect(
      parseV2Limit(fixture('v2-variants/high-fallback/memory.high'), 'f')._unsafeUnwrap(),
    ).toBe(1610612736);
  });

  it('rejects v2 garbage, negative and beyond-safe limits', () => {
    const file = '/sys/fs/cgroup/memory.max';
    expect(parseV2Limit('abc\n', file)._unsafeUnwrapErr()).toEqual(
      garbledError(file, 'expected a byte count or "max", got "abc"'),
    );
    expect(parseV2Limit('-1\n', file).isErr()).toBe(true);
    expect(parseV2Limit('9223372036854771712\n', file).isErr()).toBe(true);
  });

  it('reads the real v1 "unlimited" (PAGE_COUNTER_MAX pages) as unlimited', () => {
    expect(parseV1Limit(fixture(`${V1_DIR}/memory.limit_in_bytes`), 'f')._unsafeUnwrap()).toBe(
      'unlimited',
    );
    expect(parseV1Limit('4611686018427387904\n', 'f')._unsafeUnwrap()).toBe('unlimited');
    expect(parseV1Limit('18446744073709551615\n', 'f')._unsafeUnwrap()).toBe('unlimited');
  });

  it('reads a real finite v1 limit', () => {
    expect(parseV1Limit(fixture('v1-limited/memory.limit_in_bytes'), 'f')._unsafeUnwrap()).toBe(
      67108864,
    );
  });

  it('rejects v1 limits below 2^62 that no JS number holds exactly, and garbage', () => {
    expect(parseV1Limit('4611686018427383808\n', 'f')._unsafeUnwrapErr().detail).toBe(
      'expected a byte count, got "4611686018427383808"',
    );
    expect(parseV1Limit('max\n', 'f').isErr()).toBe(true);
    expect(parseV1Limit('-1\n', 'f').isErr()).toBe(true);
  });
});

describe('flat-keyed files', () => {
  it('reads every key of the documented v2 memory.stat', () => {
    const entries = parseFlatKeyed(fixture(`${V2_DIR}/memory.stat`), 'f')._unsafeUnwrap();
    expect(entries.size).toBe(59);
    expect([...entries.keys()].slice(0, 3)).toEqual(['anon', 'file', 'kernel']);
    for (const key of ['inactive_anon', 'active_anon', 'inactive_file', 'active_file']) {
      expect(entries.has(key)).toBe(true);
    }
    expect(flatKeyedCount(entries, 'anon', 'f')._unsafeUnwrap()).toBe(805306368);
    expect(flatKeyedCount(entries, 'no_such_key', 'f')._unsafeUnwrap()).toBeUndefined();
  });

  it('keeps v1 hierarchical limits beyond MAX_SAFE_INTEGER as text', () => {
    const entries = parseFlatKeyed(fixture(`${V1_DIR}/memory.stat`), 'f')._unsafeUnwrap();
    expect(entries.get('hierarchical_memory_limit')).toBe('9223372036854771712');
    expect(flatKeyedCount(entries, 'hierarchical_memory_limit', 'f')._unsafeUnwrapErr()).toEqual(
      garbledError(
        'f',
        'expected a count for hierarchical_memory_limit, got "9223372036854771712"',
      ),
    );
  });

  it('reads inactive_file from v2 and total_inactive_file from v1', () => {
    expect(parseV2InactiveFileBytes(fixture(`${V2_DIR}/memory.stat`), 'f')._unsafeUnwrap()).toBe(
      268435456,
    );
    expect(parseV1InactiveFileBytes(fixture(`${V1_DIR}/memory.stat`), 'f')._unsafeUnwrap()).toBe(
      21921792,
    );
    expect(parseV1InactiveFileBytes(fixture('v1-limited/memory.stat'), 'f')._unsafeUnwrap()).toBe(
      0,
    );
  });

  it('prefers v1 total_inactive_file (hierarchical) over the local inactive_file', () => {
    const stat = 'inactive_file 4096\ntotal_inactive_file 8192\n';
    expect(parseV1InactiveFileBytes(stat, 'f')._unsafeUnwrap()).toBe(8192);
    expect(parseV1InactiveFileBytes('inactive_file 4096\n', 'f')._unsafeUnwrap()).toBe(4096);
  });

  it('calls a memory.stat without inactive_file garbled', () => {
    expect(parseV2InactiveFileBytes('anon 4096\n', 'stat')._unsafeUnwrapErr()).toEqual({
      kind: 'garbled',
      file: 'stat',
      detail: 'expected a line for inactive_file',
    });
    expect(parseV1InactiveFileBytes('rss 4096\n', 'stat')._unsafeUnwrapErr().detail).toBe(
      'expected a line for total_inactive_file or inactive_file',
    );
  });

  it.each([['anon'], ['anon 1 2'], [' anon 1'], ['anon  1']])(
    'rejects the malformed line %j',
    (line) => {
      expect(parseFlatKeyed(`file 0\n${line}\n`, 'f')._unsafeUnwrapErr()).toEqual(
        garbledError('f', `expected a "key value" line, got ${JSON.stringify(line.trim())}`),
      );
    },
  );

  it('reads oom_kill from v2 memory.events, 0 when the key is absent', () => {
    expect(parseV2OomKills(fixture(`${V2_DIR}/memory.events`), 'f')._unsafeUnwrap()).toBe(1);
    expect(parseV2OomKills('low 0\nhigh 0\nmax 0\noom 0\n', 'f')._unsafeUnwrap()).toBe(0);
    expect(parseV2OomKills('oom_kill -1\n', 'f').isErr()).toBe(true);
  });
});

describe('parseV1Stat: one parse of memory.stat for both fields', () => {
  const separately = (text: string) =>
    parseV1InactiveFileBytes(text, 'f').andThen((inactive) =>
      parseV1HierarchicalLimit(text, 'f').map((limit) => [inactive, limit] as const),
    );

  it('gives the fixtures the same fields as the two parsers', () => {
    for (const path of [`${V1_DIR}/memory.stat`, 'v1-limited/memory.stat']) {
      const text = fixture(path);
      expect(parseV1Stat(text, 'f')._unsafeUnwrap()).toEqual(separately(text)._unsafeUnwrap());
    }
    expect(parseV1Stat(fixture(`${V1_DIR}/memory.stat`), 'f')._unsafeUnwrap()).toEqual([
      21921792,
      'unlimited',
    ]);
  });

  it('gives any text the same result or error as the two parsers, in their order', () => {
    const line = fc.oneof(
      fc.constantFrom('total_inactive_file', 'inactive_file', 'hierarchical_memory_limit', 'rss'),
      fc.string({ unit: fc.constantFrom(...'ab_ '.split('')), maxLength: 6 }),
    );
    const value = fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
      fc.constantFrom('-1', 'x', '', '1 2'),
    );
    const stat = fc
      .array(fc.tuple(line, value), { maxLength: 6 })
      .map((pairs) => pairs.map(([k, v]) => `${k} ${v}`).join('\n'));
    fc.assert(
      fc.property(stat, (text) => {
        const once = parseV1Stat(text, 'f');
        const twice = separately(text);
        expect(once.isOk()).toBe(twice.isOk());
        if (once.isOk()) expect(once.value).toEqual(twice._unsafeUnwrap());
        else expect(once.error).toEqual(twice._unsafeUnwrapErr());
      }),
      { numRuns: 1000 },
    );
  });

  it('parseV1Limit: a limit shorter than 2^62 in digits is a count, 2^62 itself unlimited', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n }), (bytes) => {
        const parsed = parseV1Limit(`${bytes}\n`, 'f');
        if (bytes >= 2n ** 62n) expect(parsed._unsafeUnwrap()).toBe('unlimited');
        else if (bytes <= BigInt(Number.MAX_SAFE_INTEGER))
          expect(parsed._unsafeUnwrap()).toBe(Number(bytes));
        else expect(parsed.isErr()).toBe(true);
      }),
    );
    expect(parseV1Limit('0004611686018427387904\n', 'f')._unsafeUnwrap()).toBe('unlimited');
  });
});

describe('parseOomControl', () => {
  it('reads the real v1 file', () => {
    expect(parseOomControl(fixture(`${V1_DIR}/memory.oom_control`), 'f')._unsafeUnwrap()).toEqual({
      oomKillDisable: false,
      underOom: false,
      oomKills: 0,
    });
  });

  it('reads kills and flags, and counts a missing oom_kill line (before 4.13) as 0', () => {
    expect(
      parseOomControl('oom_kill_disable 1\nunder_oom 1\noom_kill 3\n', 'f')._unsafeUnwrap(),
    ).toEqual({ oomKillDisable: true, underOom: true, oomKills: 3 });
    expect(parseOomControl('oom_kill_disable 0\nunder_oom 0\n', 'f')._unsafeUnwrap().oomKills).toBe(
      0,
    );
  });

  it('rejects a file without the flags', () => {
    expect(parseOomControl('oom_kill 2\n', 'f')._unsafeUnwrapErr().detail).toBe(
      'expected oom_kill_disable and under_oom lines, got "oom_kill 2"',
    );
  });
});

describe('parseMeminfoTotalBytes', () => {
  it('converts MemTotal from kB to bytes', () => {
    expect(parseMeminfoTotalBytes(fixture('v1-proc/meminfo'), 'f')._unsafeUnwrap()).toBe(
      24684084 * 1024,
    );
    expect(parseMeminfoTotalBytes(fixture('v2-proc/meminfo'), 'f')._unsafeUnwrap()).toBe(
      16761942016,
    );
    expect(parseMeminfoTotalBytes('MemTotal:  24576000 kB', 'f')._unsafeUnwrap()).toBe(25165824000);
  });

  it.each([['MemFree: 1 kB\n'], ['MemTotal: lots kB\n'], ['MemTotal: 12\n'], ['MemTotal: -1 kB']])(
    'rejects %j',
    (text) => {
      const error = parseMeminfoTotalBytes(text, '/proc/meminfo')._unsafeUnwrapErr();
      expect(error.kind).toBe('garbled');
      expect(error.file).toBe('/proc/meminfo');
    },
  );
});

describe('formatCgroupError', () => {
  it('names the file in one line for every kind', () => {
    expect(
      formatCgroupError(
        garbledError('/sys/fs/cgroup/memory.max', 'expected a byte count or "max", got "abc"'),
      ),
    ).toBe(
      'cgroup file /sys/fs/cgroup/memory.max is garbled: expected a byte count or "max", got "abc"',
    );
    expect(
      formatCgroupError({ kind: 'missing-file', file: '/cg/memory.stat', detail: 'no such file' }),
    ).toBe('cgroup file /cg/memory.stat is missing: no such file');
    expect(
      formatCgroupError({
        kind: 'unreadable',
        file: '/cg/memory.current',
        detail: 'EACCES: permission denied',
      }),
    ).toBe('cgroup file /cg/memory.current is unreadable: EACCES: permission denied');
    expect(
      formatCgroupError({ kind: 'garbled', file: '/proc/meminfo', detail: 'expected x, got "y"' }),
    ).toBe('file /proc/meminfo is garbled: expected x, got "y"');
    expect(
      formatCgroupError({ kind: 'no-memory-cgroup', file: '/cg', detail: 'no such directory' }),
    ).toBe('no memory cgroup found (checked /cg): no such directory');
  });

  it('never spans lines, even when quoting a multi-line file', () => {
    const message = formatCgroupError(parseByteCount('12\n34\n', 'f')._unsafeUnwrapErr());
    expect(message).not.toContain('\n');
    expect(message).toBe('file f is garbled: expected a byte count, got "12\\n34"');
  });
});

describe('fuzz: every parser returns a Result for any text and never throws', () => {
  // Kernel-flavoured characters reach the interesting branches far more often than uniform text.
  const kernelish = fc.string({
    unit: fc.constantFrom(...'0123456789 :\n-/\\,max_kBMemTotalinactive_fileoom_kill'.split('')),
    maxLength: 120,
  });
  const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), kernelish);
  const parsers: [string, (text: string) => Result<unknown, CgroupError>][] = [
    ['parseByteCount', (t) => parseByteCount(t, 'f')],
    ['parseV2Limit', (t) => parseV2Limit(t, 'f')],
    ['parseV1Limit', (t) => parseV1Limit(t, 'f')],
    ['parseFlatKeyed', (t) => parseFlatKeyed(t, 'f')],
    ['parseV2InactiveFileBytes', (t) => parseV2InactiveFileBytes(t, 'f')],
    ['parseV1InactiveFileBytes', (t) => parseV1InactiveFileBytes(t, 'f')],
    ['parseV2OomKills', (t) => parseV2OomKills(t, 'f')],
    ['parseOomControl', (t) => parseOomControl(t, 'f')],
    ['parseMeminfoTotalBytes', (t) => parseMeminfoTotalBytes(t, 'f')],
    ['parseProcCgroup', (t) => parseProcCgroup(t)],
    ['parseMountinfo', (t) => parseMountinfo(t)],
    ['locateMemoryCgroup (cgroup text)', (t) => locateMemoryCgroup(t, '')],
    [
      'locateMemoryCgroup (mountinfo text)',
      (t) => locateMemoryCgroup('4:memory:/a\n', `1 0 0:1 / /x rw - cgroup cgroup rw,memory\n${t}`),
    ],
  ];

  it.each(parsers)('%s', (_name, parse) => {
    fc.assert(
      fc.property(anyText, (text) => {
        const result = parse(text);
        expect(result.isOk() || result.isErr()).toBe(true);
        if (result.isErr()) expect(formatCgroupError(result.error)).not.toContain('\n');
      }),
      { numRuns: 500 },
    );
  });

  it('parseByteCount accepts exactly the safe non-negative integers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (bytes) => {
        expect(parseByteCount(`${bytes}\n`, 'f')._unsafeUnwrap()).toBe(bytes);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n }), (bytes) => {
        expect(parseByteCount(`${bytes}\n`, 'f').isErr()).toBe(true);
      }),
    );
  });

  it('parseV1Limit: unlimited exactly from 2^62 upwards', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 62n, max: 2n ** 64n }), (bytes) => {
        expect(parseV1Limit(`${bytes}\n`, 'f')._unsafeUnwrap()).toBe('unlimited');
      }),
    );
  });
});
