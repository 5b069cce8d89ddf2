// The live ladder on a real cgroup v2 kernel: memgov launches a synthetic agent in a 320 MiB
// cgroup; it grows 24 MiB/s, and neither compact nor clear frees anything, then it bursts at
// 25 MiB/s. memgov must compact, clear, then archive and terminate the agent before the kernel's
// OOM killer acts: oom_kill stays 0 and the agent exits on its own after SIGTERM.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  actionsDecided,
  Cleanup,
  startMemgov,
  syntheticAgent,
  tempDir,
  writeConfig,
  type LogRecord,
} from '../support/daemon.ts';
import { createV2Cgroup, MIB } from './cgroup.ts';

const LIMIT_BYTES = 320 * MIB;

const decided =
  (action: string) =>
  (r: LogRecord): boolean =>
    r.message === 'decision' && r.action === action;

describe('the live ladder on a real cgroup v2 kernel', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('compacts, clears, then archives and terminates before the kernel acts', async () => {
    const cgroup = createV2Cgroup(cleanup, { maxBytes: LIMIT_BYTES });
    const dir = tempDir(cleanup);
    const sessionDir = join(dir, 'session');
    const config = writeConfig(dir, {
      minPollMs: 100,
      urgentPollMs: 100,
      stateFile: join(dir, 'state', 'mem_governor_state'),
      agent: { terminateGraceMs: 3_000 },
      archive: { dir: join(dir, 'archive'), paths: [sessionDir] },
    });
    const memgov = startMemgov(
      cleanup,
      ['run', '--cgroup', cgroup.dir, '--config', config, '--log-level', 'debug'],
      syntheticAgent(cgroup.dir, {
        'start-mib': 180,
        'grow-mib-per-s': 24,
        'compact-frees-pct': 0,
        'clear-frees-pct': 0,
        'burst-mib-per-s': 25,
        'session-dir': sessionDir,
      }),
    );
    await memgov.waitFor('the agent to start', (r) => r.message === 'agent started', 60_000);
    const terminate = await memgov.waitFor(
      'the archive-terminate decision',
      decided('archive-terminate'),
      90_000,
    );
    const exit = await memgov.waitFor(
      'the agent to exit',
      (r) => r.message === 'agent exited',
      30_000,
    );
    expect(actionsDecided(memgov).map((a) => a.action)).toEqual([
      'compact',
      'clear',
      'archive-terminate',
    ]);
    expect(terminate.ratio).toBeGreaterThanOrEqual(0.9);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(cgroup.counter('memory.events', 'oom_kill')).toBe(0);
  });
});
