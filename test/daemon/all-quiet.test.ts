// At info level decisions without an action are not logged; one "all quiet" line a minute (in
// sample time) says what memgov sees, so a person watching the log sees it working.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { memoryLog } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';
import { pollUntil } from '../support/daemon.ts';

const V1 = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;

describe('all quiet', () => {
  it('one info line per minute of samples, with ratio, limit and next poll', async () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-quiet-'));
    const cgroup = join(work, 'cgroup');
    cpSync(V1, cgroup, { recursive: true });
    const config = loadConfig({
      env: {},
      flags: { relaxedPollMs: '50', fastPollMs: '50', minPollMs: '50', urgentPollMs: '50' },
      daemonFlags: { cgroup, stateFile: join(work, 'state'), journal: { path: 'off' } },
    })._unsafeUnwrap();
    const log = memoryLog();
    // Each clock read is 10 s later: sample time runs far ahead of the 50 ms polls.
    let clockMs = 1_800_000_000_000;
    const now = (): number => (clockMs += 10_000);
    let stop: (why: string) => void = () => undefined;
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    const done = runDaemon({ config, agentCommand: [], log, now, stopSignal });
    const quiet = () => log.records.filter((r) => r.message === 'all quiet');
    try {
      await pollUntil('three quiet lines', 10_000, () => (quiet().length >= 3 ? true : undefined));
    } finally {
      stop('test over');
      expect(await done).toBe(0);
    }
    const decisions = log.records.filter((r) => r.message === 'decision');
    expect(quiet()[0]).toMatchObject({
      level: 'info',
      fields: { ratio: 0.4141, limitMiB: 64, tier: 0 },
    });
    expect(typeof quiet()[0]?.fields.nextPollMs).toBe('number');
    // Fewer quiet lines than samples: one a minute, not one per sample.
    const ts = decisions.map((d) => Number(d.fields.t));
    const minutes = (Math.max(...ts) - Math.min(...ts)) / 60_000;
    expect(quiet().length).toBeLessThanOrEqual(Math.floor(minutes) + 1);
    expect(decisions.length).toBeGreaterThan(quiet().length);
  });
});
