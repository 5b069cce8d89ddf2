// A launched agent's own exit status is reported, never passed on as memgov's exit code: an agent
// exiting 3 must not read as "restart budget spent", nor 1 as a memgov failure.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { memoryLog } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';

const V1 = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;

describe('the launched agent exits on its own', () => {
  it.each([0, 1, 3, 4])('with %i: memgov exits 0 and logs the agent status', async (status) => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-agent-exit-'));
    const cgroup = join(work, 'cgroup');
    cpSync(V1, cgroup, { recursive: true });
    const config = loadConfig({
      env: {},
      daemonFlags: { cgroup, stateFile: join(work, 'state'), journal: { path: 'off' } },
    })._unsafeUnwrap();
    const log = memoryLog();
    const agentCommand = [process.execPath, '-e', `process.exit(${status})`];
    expect(await runDaemon({ config, agentCommand, log })).toBe(0);
    expect(log.records.find((r) => r.message === 'stopping')?.fields).toEqual({
      agentExitCode: status,
    });
  });
});
