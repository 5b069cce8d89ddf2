// The supervisor in the real composition root, in-process: runDaemon over a copy of a v1 cgroup
// fixture with a cgroup read that throws (the `read` fault injection). One crash restarts the
// sampler and governing goes on; a crash loop spends the restart budget and memgov exits 3, so
// the outer loop restarts it. The CLI returns that code too (with readCgroup made to throw).
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryLog } from '../../actors/log.ts';
import { EXIT_BUDGET_SPENT, runDaemon } from '../../cli/daemon.ts';
import { loadConfig, type MemgovConfig } from '../../cli/config.ts';
import type * as Reader from '../../adapters/cgroup/reader.ts';
import { DEFAULT_RESTART_BUDGET } from '../../machines/restart-budget.ts';
import { runMain } from '../support/cli.ts';
import { Cleanup, pollUntil, tempDir } from '../support/daemon.ts';

const faults = vi.hoisted(() => ({ readCgroupThrows: false }));

// Only for the CLI test below: the real reader, unless the test asks every read to throw.
vi.mock('../../adapters/cgroup/reader.ts', async (importOriginal) => {
  const real = await importOriginal<typeof Reader>();
  return {
    ...real,
    // The daemon reads through createCgroupReader: its reads throw when the test says so.
    createCgroupReader: (...args: Parameters<typeof real.createCgroupReader>) =>
      real.createCgroupReader(...args).map((reader) => ({
        handle: reader.handle,
        read: () => {
          if (faults.readCgroupThrows) throw new Error('injected: readCgroup threw');
          return reader.read();
        },
      })),
  };
});

const FIXTURE = new URL('../fixtures/cgroup/v1-limited', import.meta.url).pathname;

/** Resolves a promise within `timeoutMs` or fails. */
async function within<T>(what: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise,
      delay(timeoutMs, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

describe('runDaemon: a sampler that throws (fixture cgroup, in-process)', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /** A temp copy of the fixture cgroup (41% full) and a state file; polls every 50 ms at most. */
  function setup(): { config: MemgovConfig; stateFile: string; cgroup: string } {
    const dir = tempDir(cleanup);
    const cgroup = join(dir, 'cgroup');
    cpSync(FIXTURE, cgroup, { recursive: true });
    const stateFile = join(dir, 'state', 'mem_governor_state');
    const config = loadConfig({
      env: {},
      flags: { minPollMs: '50', urgentPollMs: '50' },
      daemonFlags: { cgroup, stateFile },
    })._unsafeUnwrap();
    return { config, stateFile, cgroup };
  }

  it('a read that throws once: the sampler is restarted and governing goes on', async () => {
    const { config, stateFile } = setup();
    const log = memoryLog();
    let stop: (reason: string) => void = () => undefined;
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    let reads = 0;
    const running = runDaemon({
      config,
      agentCommand: [],
      log,
      stopSignal,
      read: (real) => {
        reads++;
        if (reads === 2) throw new Error('injected: the second read blew up');
        return real();
      },
    });
    cleanup.add(async () => {
      stop('cleanup');
      await running;
    });

    const messages = (): string[] => log.records.map((r) => r.message);
    await pollUntil(
      'three decisions after the restart',
      5_000,
      () => {
        const restartAt = messages().indexOf('child restarted');
        if (restartAt === -1) return undefined;
        const after = messages()
          .slice(restartAt)
          .filter((m) => m === 'decision');
        return after.length >= 3 ? true : undefined;
      },
      () => JSON.stringify(log.records),
    );
    stop('test');
    expect(await within('runDaemon to return', 5_000, running)).toBe(0);

    const restarts = log.records.filter((r) => r.message === 'child restarted');
    expect(restarts).toEqual([
      {
        level: 'warn',
        message: 'child restarted',
        fields: { child: 'sampler', restarts: { sampler: 1, governor: 0, executor: 0 } },
      },
    ]);
    const restartAt = messages().indexOf('child restarted');
    expect(messages().slice(0, restartAt)).toContain('decision');
    expect(messages()).not.toContain('supervisor crashed');
    expect(messages().some((m) => m.startsWith('restart budget spent'))).toBe(false);
    expect(messages().at(-1)).toBe('stopping');
    expect(existsSync(`${stateFile}.lock`)).toBe(false);
  });

  it('a read that always throws: the restart budget is spent and runDaemon returns 3', async () => {
    const { config, stateFile } = setup();
    const log = memoryLog();
    const startedAtMs = Date.now();
    const code = await within(
      'runDaemon to give up',
      5_000,
      runDaemon({
        config,
        agentCommand: [],
        log,
        // Never resolves: only the spent budget may end this daemon.
        stopSignal: new Promise<string>(() => undefined),
        read: () => {
          throw new Error('injected: every read blows up');
        },
      }),
    );
    const tookMs = Date.now() - startedAtMs;

    expect(code).toBe(EXIT_BUDGET_SPENT);
    expect(EXIT_BUDGET_SPENT).toBe(3);
    expect(tookMs).toBeLessThan(2_000);
    const restarts = log.records.filter((r) => r.message === 'child restarted');
    expect(restarts).toHaveLength(DEFAULT_RESTART_BUDGET.intensity);
    const spent = log.records.filter((r) => r.message.startsWith('restart budget spent'));
    expect(spent).toEqual([
      {
        level: 'error',
        message: 'restart budget spent: giving up so the outer loop can restart memgov',
        fields: {
          failure: { child: 'sampler', detail: 'injected: every read blows up' },
          restarts: { sampler: DEFAULT_RESTART_BUDGET.intensity, governor: 0, executor: 0 },
        },
      },
    ]);
    expect(log.records.filter((r) => r.message === 'decision')).toEqual([]);
    expect(existsSync(`${stateFile}.lock`)).toBe(false);
  });

  it('the memgov run CLI exits non-zero (3) when the budget is spent', async () => {
    const { stateFile, cgroup } = setup();
    // runDaemon without a stopSignal listens for SIGTERM and SIGINT and never stops listening:
    // take those listeners off again, so this worker still dies on SIGTERM.
    const before = {
      SIGTERM: process.listeners('SIGTERM'),
      SIGINT: process.listeners('SIGINT'),
    };
    let stdout = '';
    faults.readCgroupThrows = true;
    try {
      const run = await within(
        'memgov run to exit',
        5_000,
        runMain(['run', '--cgroup', cgroup, '--state-file', stateFile, '--log-format', 'json']),
      );
      // The JSON log goes through the CLI's own stdout writer (its fd 1 in production).
      expect({ code: run.code, stderr: run.stderr }).toEqual({
        code: EXIT_BUDGET_SPENT,
        stderr: '',
      });
      stdout = run.stdout;
    } finally {
      faults.readCgroupThrows = false;
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        for (const listener of process.listeners(signal)) {
          if (!before[signal].includes(listener)) process.removeListener(signal, listener);
        }
      }
    }
    const lines = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { message: string; failure?: unknown });
    expect(lines.find((l) => l.message.startsWith('restart budget spent'))).toMatchObject({
      failure: { child: 'sampler', detail: 'injected: readCgroup threw' },
    });
  });
});
