// The log contract of `memgov run`, on the shipped bundle: JSON lines when stdout is a pipe, one
// `decision` record per sample with the documented fields, the level taken from the config file,
// MEMGOV_LOG_LEVEL and --log-level (in that order of precedence), and pretty text on a terminal.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureCgroup } from './fixture-daemon.ts';
import { BUNDLE } from '../support/cli.ts';
import { Cleanup, startMemgov, type DaemonProcess } from '../support/daemon.ts';

/** The fields of a `decision` record, as docs/OBSERVABILITY.md lists them. */
const DECISION_FIELDS = [
  'action',
  'growthBytesPerSec',
  'limitBytes',
  'nextPollMs',
  'ratio',
  'reason',
  'speed',
  't',
  'tier',
  'usedBytes',
];

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Waits for `count` decision records, then stops memgov. */
async function decisions(daemon: DaemonProcess, count: number): Promise<void> {
  await daemon.waitFor(
    `${count} decisions`,
    () => daemon.named('decision').length >= count,
    10_000,
  );
  expect(await daemon.stop()).toEqual({ code: 0, signal: null });
}

describe('memgov run logs', () => {
  it('writes only JSON lines to a pipe, one decision record per sample with the documented fields', async () => {
    const { run } = fixtureCgroup(cleanup, 0.3);
    const daemon = startMemgov(cleanup, [...run, '--log-level', 'debug']);
    await decisions(daemon, 3);
    const lines = daemon
      .output()
      .split('\n')
      .filter((line) => line !== '');
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    // No runtime block repeated on every line: the start line names the host and pid once.
    for (const line of lines) expect(line).not.toContain('_logMeta');
    const started = daemon.named('memgov started')[0];
    expect([typeof started?.pid, typeof started?.hostname]).toEqual(['number', 'string']);
    const records = daemon.named('decision');
    for (const record of records) {
      const fields = Object.keys(record).filter(
        (key) => !['message', 'level', 'levelId', 'time'].includes(key),
      );
      // PSI where the kernel has it (v1: the system's /proc/pressure/memory), else no field.
      const expected = existsSync('/proc/pressure/memory')
        ? [...DECISION_FIELDS, 'pressureSomeAvg10Pct'].sort()
        : DECISION_FIELDS;
      expect(fields.sort()).toEqual(expected);
      expect(record).toMatchObject({ level: 'DEBUG', action: null, reason: 'below-threshold' });
    }
    // One record per sample: no sample time is logged twice.
    const times = records.map((r) => r.t);
    expect(new Set(times).size).toBe(times.length);
  });

  it('takes the level from the config file, then MEMGOV_LOG_LEVEL, then --log-level', async () => {
    const { dir, cgroup, stateFile } = fixtureCgroup(cleanup, 0.75);
    const config = join(dir, 'memgov.yaml');
    writeFileSync(config, `logLevel: warn\ncgroup: ${cgroup}\nstateFile: ${stateFile}\n`);

    const fromFile = startMemgov(cleanup, ['run', '--config', config]);
    await fromFile.waitFor('the compact decision', (r) => r.message === 'decision', 10_000);
    await fromFile.stop();
    expect(fromFile.named('decision')[0]).toMatchObject({ level: 'WARN', action: 'compact' });
    // warn: no info (start-up, stopping, action result) and no debug records.
    expect(fromFile.records().filter((r) => r.level === 'INFO' || r.level === 'DEBUG')).toEqual([]);

    const fromEnv = startMemgov(cleanup, ['run', '--config', config], [], {
      MEMGOV_LOG_LEVEL: 'info',
    });
    await fromEnv.waitFor('the start record', (r) => r.message === 'memgov started', 10_000);
    await fromEnv.stop();
    expect(fromEnv.named('memgov started')).toHaveLength(1);

    const fromFlag = startMemgov(cleanup, ['run', '--config', config, '--log-level', 'debug'], [], {
      MEMGOV_LOG_LEVEL: 'error',
    });
    await fromFlag.waitFor('a debug record', (r) => r.level === 'DEBUG', 10_000);
    await fromFlag.stop();
  });

  it('is pretty text on a terminal', () => {
    const { cgroup, stateFile } = fixtureCgroup(cleanup, 0.3);
    // script(1) gives memgov a pseudo-terminal; the agent exits after 300 ms and memgov with it.
    const command = [
      process.execPath,
      BUNDLE,
      'run',
      '--cgroup',
      cgroup,
      '--state-file',
      stateFile,
      '--',
      process.execPath,
      '-e',
      '"setTimeout(() => {}, 300)"',
    ].join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('memgov started');
    expect(run.stdout).not.toMatch(/^\{"message"/m);
    // No call site on the lines: it would always name the bundle (dist/memgov.mjs:368).
    expect(run.stdout).not.toContain('memgov.mjs');
  });
});
