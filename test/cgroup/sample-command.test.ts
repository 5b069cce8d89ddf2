import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sampleCommand } from '../../cli/commands/sample.ts';
import type { CliIo } from '../../cli/io.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const FIXTURES = `${REPO}/test/fixtures/cgroup`;
const POD =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope';

interface Captured {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs the command against a capturing CliIo whose cwd is the repository root. */
async function run(...argv: string[]): Promise<Captured> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    env: {},
    cwd: REPO,
  };
  const code = await sampleCommand(argv, io);
  return { code, out, err };
}

describe('memgov sample --json', () => {
  it('prints exactly one line with the keys in contract order', async () => {
    const result = await run(
      '--json',
      '--proc-root',
      'test/fixtures/cgroup/v2-proc',
      '--sys-root',
      'test/fixtures/cgroup/v2',
    );
    expect(result).toEqual({
      code: 0,
      err: '',
      out:
        `{"version":2,"cgroup":"${FIXTURES}/v2/fs/cgroup${POD}","current":1241513984,` +
        `"inactiveFile":268435456,"workingSet":973078528,"limit":2147483648,` +
        `"limitSource":"max","ratio":${973078528 / 2147483648},"oomKills":1}\n`,
    });
  });

  it('reads a --cgroup DIR and reports the host fallback', async () => {
    const result = await run(
      '--cgroup=test/fixtures/cgroup/v2-variants/host-fallback',
      '--proc-root=test/fixtures/cgroup/v2-proc',
      '--json',
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toEqual({
      version: 2,
      cgroup: `${FIXTURES}/v2-variants/host-fallback`,
      current: 1241513984,
      inactiveFile: 268435456,
      workingSet: 973078528,
      limit: 16761942016,
      limitSource: 'host',
      ratio: 973078528 / 16761942016,
      oomKills: 1,
    });
  });

  it('reads the real v1 capture', async () => {
    const result = await run('--cgroup', `${FIXTURES}/v1-limited`, '--json');
    expect(JSON.parse(result.out)).toMatchObject({
      version: 1,
      current: 27787264,
      workingSet: 27787264,
      limit: 67108864,
      limitSource: 'max',
      oomKills: 0,
    });
  });
});

describe('memgov sample (table)', () => {
  it('prints an aligned table of bytes and MiB', async () => {
    const result = await run('--cgroup', 'test/fixtures/cgroup/v2-variants/high-fallback');
    expect(result.code).toBe(0);
    expect(result.out).toBe(
      [
        `cgroup         ${FIXTURES}/v2-variants/high-fallback (v2)`,
        'current        1241513984 B  1184.0 MiB',
        'inactive file   268435456 B   256.0 MiB',
        'working set     973078528 B   928.0 MiB',
        'limit          1610612736 B  1536.0 MiB  (memory.high: no hard limit set)',
        'ratio          0.6042 (60.4%)',
        'oom kills      1',
        '',
      ].join('\n'),
    );
  });
});

describe('memgov sample failures', () => {
  it('exits 1 naming the garbled file', async () => {
    const result = await run('--cgroup', 'test/fixtures/cgroup/v2-variants/garbage-current');
    expect(result).toEqual({
      code: 1,
      out: '',
      err:
        `memgov sample: cgroup file ${FIXTURES}/v2-variants/garbage-current/memory.current ` +
        'is garbled: expected a byte count, got "lots of memory"\n',
    });
  });

  it('exits 1 naming the missing file', async () => {
    const result = await run('--cgroup', 'test/fixtures/cgroup/v2-variants/no-stat', '--json');
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      `memgov sample: cgroup file ${FIXTURES}/v2-variants/no-stat/memory.stat is missing: no such file\n`,
    );
  });

  it('exits 1 for a directory that is no memory cgroup', async () => {
    const result = await run('--cgroup', 'test/fixtures');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^memgov sample: no memory cgroup found \(checked .*fixtures\)/);
  });

  it.each([
    [['--bogus'], 'memgov sample: unknown option --bogus (see memgov sample --help)\n'],
    [['--cgroup'], 'memgov sample: option --cgroup needs a value (see memgov sample --help)\n'],
    [['--json=yes'], 'memgov sample: option --json takes no value (see memgov sample --help)\n'],
    [['extra'], 'memgov sample: unexpected argument "extra" (see memgov sample --help)\n'],
    [['--', 'cmd'], 'memgov sample: unexpected argument "cmd" (see memgov sample --help)\n'],
  ])('exits 2 for %j', async (argv, message) => {
    expect(await run(...argv)).toEqual({ code: 2, out: '', err: message });
  });

  it('prints its help, hidden testing aids included, and exits 0', async () => {
    const result = await run('--help');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^Usage: memgov sample \[--cgroup DIR\] \[--json\]\n/);
    expect(result.out).toContain('--proc-root DIR');
    expect(result.err).toBe('');
  });
});
