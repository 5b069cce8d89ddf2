// `memgov demo` end to end through the bundle: a real child cgroup on this machine (root,
// cgroup v1), and the simulated fallback. Each must reach all three tiers with no kernel kill
// and leave no cgroup or agent behind.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writableV1Parent } from '../../adapters/cgroup/v1-admin.ts';
import { effectLine, painter } from '../../cli/commands/demo.ts';
import { BUNDLE } from '../support/cli.ts';

async function runDemo(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BUNDLE, 'demo', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, out };
}

function actionsIn(out: string): string[] {
  return [...out.matchAll(/>>> ([A-Z-]+)/g)].map((m) => (m[1] ?? '').toLowerCase());
}

const parent = writableV1Parent();

describe('memgov demo', () => {
  it.runIf(parent.isOk())(
    'climbs the whole ladder in a real child cgroup and removes it',
    async () => {
      const { code, out } = await runDemo([]);
      expect(out).toContain('cgroup at ');
      expect(actionsIn(out).slice(0, 3)).toEqual(['compact', 'clear', 'archive-terminate']);
      expect(out).toContain('kernel OOM kills in the demo cgroup: 0');
      expect(out).toMatch(
        /-- agent started \(pid \d+\)[\s\S]*-- session archived[\s\S]*-- agent started/,
      );
      expect(code).toBe(0);
      const dir = /cgroup at (\S+)/.exec(out)?.[1] ?? '';
      expect(dir).not.toBe('');
      expect(existsSync(dir)).toBe(false);
    },
    120_000,
  );

  it('falls back to a simulated cgroup directory and still climbs the ladder', async () => {
    const { code, out } = await runDemo(['--simulate']);
    expect(out).toContain('using a simulated cgroup directory instead');
    expect(actionsIn(out).slice(0, 3)).toEqual(['compact', 'clear', 'archive-terminate']);
    expect(out).toContain('all three tiers reached; simulated cgroup removed');
    // Effects in the agent's terms, never raw (and possibly negative) byte counts.
    expect(out).toMatch(/-- compact: working set \d+\.\d MiB -> \d+\.\d MiB \((freed|grew)/);
    expect(out).not.toContain('freedBytes');
    // The archive went with the working directory: no path printed that no longer exists.
    expect(out).toContain(
      'archive: written, and removed with the working directory (--keep keeps it)',
    );
    // A pipe gets no colour codes.
    expect(out).not.toContain('\u001b[');
    expect(code).toBe(0);
  }, 120_000);
});

describe('the demo view', () => {
  const io = (env: Record<string, string>) => ({
    out: () => undefined,
    err: () => undefined,
    env,
    cwd: '/',
  });
  it('shows an effect as the working set before and after, with what it freed or that it grew', () => {
    const MiB = 1024 * 1024;
    expect(
      effectLine({ action: 'compact', usedBytesBefore: 200 * MiB, usedBytesAfter: 186 * MiB }),
    ).toBe('compact: working set 200.0 MiB -> 186.0 MiB (freed 14.0 MiB)');
    expect(
      effectLine({ action: 'compact', usedBytesBefore: 200 * MiB, usedBytesAfter: 205 * MiB }),
    ).toBe(
      'compact: working set 200.0 MiB -> 205.0 MiB (grew 5.0 MiB meanwhile: the agent kept growing)',
    );
  });

  it('colours on a terminal, not in a pipe, not with NO_COLOR', () => {
    expect(painter(io({}), true)('>>> CLEAR', 'yellow')).toBe('\u001b[1;33m>>> CLEAR\u001b[0m');
    expect(painter(io({}), false)('>>> CLEAR', 'yellow')).toBe('>>> CLEAR');
    expect(painter(io({ NO_COLOR: '1' }), true)('>>> CLEAR', 'yellow')).toBe('>>> CLEAR');
  });
});
