// End to end in one process: the real daemon over a cgroup v1 directory whose usage the test
// controls, a compact carried out by the command transport (a configured argv that "frees"
// memory by rewriting the usage file), and the result, its measured effect and the state file.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { memoryLog } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';
import { runMain } from '../support/cli.ts';
import { pollUntil } from '../support/daemon.ts';

const FIXTURE = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;
const LIMIT = 64 * 1024 * 1024;

describe('daemon with the command transport', () => {
  it('compacts through argv, logs the result and what it freed, and records both in the state file', async () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-cmd-'));
    const cgroup = join(work, 'cgroup');
    cpSync(FIXTURE, cgroup, { recursive: true });
    const usage = join(cgroup, 'memory.usage_in_bytes');
    writeFileSync(usage, `${Math.round(0.75 * LIMIT)}\n`);
    const shrink = `require('fs').writeFileSync(${JSON.stringify(usage)}, '${Math.round(0.5 * LIMIT)}\\n')`;
    const stateFile = join(work, 'state');
    const config = loadConfig({
      env: {},
      flags: { minPollMs: '100', urgentPollMs: '100' },
      daemonFlags: {
        cgroup,
        stateFile,
        logLevel: 'debug',
        agent: { commandArgv: { compact: [process.execPath, '-e', shrink] } },
      },
    })._unsafeUnwrap();
    const log = memoryLog();
    let stop: (why: string) => void = () => undefined;
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    const done = runDaemon({ config, agentCommand: [], log, stopSignal });
    const find = (message: string) => log.records.find((r) => r.message === message)?.fields;
    try {
      await pollUntil('the effect of the compact', 10_000, () =>
        find('action effect') !== undefined ? true : undefined,
      );
    } finally {
      stop('test over');
      expect(await done).toBe(0);
    }
    expect(
      log.records.find((r) => r.message === 'decision' && r.fields.action !== null)?.fields,
    ).toMatchObject({
      action: 'compact',
      reason: 'tier1-compact',
      tier: 1,
    });
    expect(find('action result')).toMatchObject({
      seq: 1,
      action: 'compact',
      outcome: 'ok',
      usedBytesBefore: Math.round(0.75 * LIMIT),
    });
    expect(find('action effect')).toEqual({
      seq: 1,
      action: 'compact',
      outcome: 'ok',
      usedBytesBefore: Math.round(0.75 * LIMIT),
      usedBytesAfter: Math.round(0.5 * LIMIT),
      freedBytes: Math.round(0.25 * LIMIT),
    });
    const status = await runMain(['status', '--json', '--state-file', stateFile]);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as {
      tier: number;
      actions: unknown[];
      compactWindow: unknown;
    };
    expect(parsed.tier).toBe(1);
    expect(parsed.actions).toMatchObject([
      {
        seq: 1,
        action: 'compact',
        outcome: 'ok',
        usedBytes: Math.round(0.75 * LIMIT),
        usedBytesAfter: Math.round(0.5 * LIMIT),
      },
    ]);
    expect(parsed.compactWindow).toMatchObject({ open: true, clearedSinceCompact: false });
    const human = await runMain(['status', '--state-file', stateFile]);
    // The ladder's tier (the compact window) and the memory now are separate lines.
    expect(human.stdout).toMatch(
      /^ladder {8}tier 1: compacted under a minute ago at 75\.0%; window open, closes \S+ \(in 5 min\)\n/m,
    );
    expect(human.stdout).toMatch(
      /^memory {8}50\.0%: 32\.0 MiB of 64\.0 MiB, below compactAt: nothing to do\n/m,
    );
    expect(human.stdout).toMatch(/^memgov {8}not running \(no memgov holds the lock\)\n/);
    expect(human.stdout).toMatch(/#1 \S+ compact at 75\.0%: ok/);
  });
});
