// The start line says what memgov governs against: the limit, where it came from, and the ratio
// now. A cgroup without a limit is measured against the host's memory, which memgov says loudly.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { memoryLog } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';

const V1 = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;
const LIMIT_BYTES = 64 * 1024 * 1024;

async function startLines(prepare: (cgroup: string) => void) {
  const work = mkdtempSync(join(tmpdir(), 'memgov-start-line-'));
  const cgroup = join(work, 'cgroup');
  cpSync(V1, cgroup, { recursive: true });
  prepare(cgroup);
  const config = loadConfig({
    env: {},
    daemonFlags: { cgroup, stateFile: join(work, 'state'), journal: { path: 'off' } },
  })._unsafeUnwrap();
  const log = memoryLog();
  // Stopped at once: the start line is written before the first sample is waited for.
  expect(
    await runDaemon({ config, agentCommand: [], log, stopSignal: Promise.resolve('over') }),
  ).toBe(0);
  return log.records;
}

describe('the start line', () => {
  it('names the limit, its source and the ratio', async () => {
    const records = await startLines((cgroup) =>
      writeFileSync(join(cgroup, 'memory.usage_in_bytes'), `${LIMIT_BYTES / 4}\n`),
    );
    const started = records.find((r) => r.message === 'memgov started');
    expect(started?.fields).toMatchObject({
      limitBytes: LIMIT_BYTES,
      limitMiB: 64,
      limitSource: 'max',
    });
    expect(records.filter((r) => r.level === 'warn')).toEqual([]);
  });

  it('warns when the cgroup has no limit and the host memory stands in', async () => {
    const unlimited = '9223372036854771712';
    const records = await startLines((cgroup) => {
      writeFileSync(join(cgroup, 'memory.limit_in_bytes'), `${unlimited}\n`);
      // No ancestor limits either (the kernel's hierarchical figure would say so).
      const stat = readFileSync(join(cgroup, 'memory.stat'), 'utf8');
      writeFileSync(
        join(cgroup, 'memory.stat'),
        stat.replace(/^hierarchical_memory_limit \d+$/m, `hierarchical_memory_limit ${unlimited}`),
      );
    });
    const started = records.find((r) => r.message === 'memgov started');
    expect(started?.fields.limitSource).toBe('host');
    const warning = records.find((r) => r.level === 'warn');
    expect(warning?.message).toMatch(/no memory limit.*never act/);
    expect(warning?.fields.hint).toContain('resources.limits.memory');
  });
});
