// cgroup v2: the daemon samples at once when the kernel changes memory.events (inotify through
// chokidar, never polling), instead of waiting out its polling interval. A fixture tree laid out
// like a pod's cgroup stands in for the kernel, which has no v2 memory controller here.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { memoryLog } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';
import { pollUntil } from '../support/daemon.ts';

const FIXTURE = new URL(
  '../fixtures/cgroup/v2/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope/',
  import.meta.url,
).pathname;

describe('cgroup v2 memory.events', () => {
  it('a change to memory.events brings the next sample at once, not after the polling interval', async () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-v2-'));
    const cgroup = join(work, 'cgroup');
    cpSync(FIXTURE, cgroup, { recursive: true });
    // 64 GiB limit at ~2%: the governor asks for its next sample 60 s later.
    writeFileSync(join(cgroup, 'memory.max'), `${64 * 1024 ** 3}\n`);
    const config = loadConfig({
      env: {},
      daemonFlags: { cgroup, stateFile: join(work, 'state'), logLevel: 'debug' },
    })._unsafeUnwrap();
    const log = memoryLog();
    let stop: (why: string) => void = () => undefined;
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    const done = runDaemon({ config, agentCommand: [], log, stopSignal });
    const decisions = () => log.records.filter((r) => r.message === 'decision');
    try {
      await pollUntil('the first decision', 5_000, () =>
        decisions().length === 1 ? true : undefined,
      );
      expect(decisions()[0]?.fields.nextPollMs).toBe(60_000);
      // Give the watcher time to arm (chokidar's 'ready'), then the kernel "writes" an event.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const changedAtMs = Date.now();
      writeFileSync(join(cgroup, 'memory.current'), `${40 * 1024 ** 3}\n`);
      writeFileSync(
        join(cgroup, 'memory.events'),
        'low 0\nhigh 3\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n',
      );
      await pollUntil('a sample triggered by memory.events', 5_000, () =>
        decisions().length >= 2 ? true : undefined,
      );
      const second = decisions()[1]?.fields;
      expect(Number(second?.t) - changedAtMs).toBeLessThan(2_000);
      expect(Number(second?.ratio)).toBeGreaterThan(0.6);
    } finally {
      stop('test over');
      expect(await done).toBe(0);
    }
  });
});
