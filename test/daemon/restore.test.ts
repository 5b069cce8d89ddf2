// Restarts never repeat an action: a state file written while a compact was in flight (whole
// supervisor snapshot, children included) restores into the same rung, the compact is recorded
// as interrupted, and the executor never runs it again.
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor, fromCallback } from 'xstate';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { writeStateFile } from '../../adapters/state-file.ts';
import { memoryLog } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';
import { DEFAULT_POLICY } from '../../machines/config.ts';
import { DEFAULT_RESTART_BUDGET } from '../../machines/restart-budget.ts';
import { createSupervisorMachine, type SamplerCommand } from '../../machines/supervisor.machine.ts';
import { runMain } from '../support/cli.ts';
import { pollUntil } from '../support/daemon.ts';

const FIXTURE = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;
const LIMIT = 64 * 1024 * 1024;

/** The persisted system right after a compact was dispatched at 75%, its result never known. */
function snapshotWithCompactInFlight(nowMs: number): unknown {
  const machine = createSupervisorMachine({
    policy: DEFAULT_POLICY,
    budget: DEFAULT_RESTART_BUDGET,
  }).provide({
    actors: {
      sampler: fromCallback<SamplerCommand, { firstSampleAtMs: number }>(({ sendBack }) => {
        sendBack({
          type: 'SAMPLE',
          sample: { t: nowMs, current: 0.75 * LIMIT, inactiveFile: 0, limit: LIMIT },
        });
      }),
    },
  });
  const actor = createActor(machine, { input: { governor: null } }).start();
  const persisted = actor.getPersistedSnapshot() as unknown as {
    context: { handedOverSeq: number };
  };
  actor.stop();
  // The worst case: written before the hand-over was recorded.
  return { ...persisted, context: { ...persisted.context, handedOverSeq: 0 } };
}

describe('restore after a crash with an action in flight', () => {
  it('keeps the rung and the window, records the compact as interrupted, and never runs it again', async () => {
    const work = mkdtempSync(join(tmpdir(), 'memgov-restore-'));
    const cgroup = join(work, 'cgroup');
    cpSync(FIXTURE, cgroup, { recursive: true });
    writeFileSync(join(cgroup, 'memory.usage_in_bytes'), `${Math.round(0.76 * LIMIT)}\n`);
    const stateFile = join(work, 'state');
    const marker = join(work, 'compact-ran');
    const persisted = snapshotWithCompactInFlight(Date.now() - 60_000);
    expect((persisted as { status: string }).status).toBe('active');
    writeStateFile(stateFile, persisted, Date.now())._unsafeUnwrap();

    const config = loadConfig({
      env: {},
      flags: { minPollMs: '100', urgentPollMs: '100' },
      daemonFlags: {
        cgroup,
        stateFile,
        logLevel: 'debug',
        agent: {
          commandArgv: {
            compact: [
              process.execPath,
              '-e',
              `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`,
            ],
          },
        },
      },
    })._unsafeUnwrap();
    const log = memoryLog();
    let stop: (why: string) => void = () => undefined;
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    const done = runDaemon({ config, agentCommand: [], log, stopSignal });
    const decisions = () => log.records.filter((r) => r.message === 'decision');
    try {
      await pollUntil('five decisions at 76%', 10_000, () =>
        decisions().length >= 5 ? true : undefined,
      );
    } finally {
      stop('test over');
      expect(await done).toBe(0);
    }
    expect(log.records.find((r) => r.message === 'memgov started')?.fields.restored).toBe(true);
    expect(decisions().map((d) => [d.fields.action, d.fields.tier])).toEqual(
      decisions().map(() => [null, 1]),
    );
    expect(existsSync(marker)).toBe(false);
    const status = JSON.parse(
      (await runMain(['status', '--json', '--state-file', stateFile])).stdout,
    ) as {
      actions: { seq: number; outcome: string; detail: string }[];
    };
    expect(status.actions).toMatchObject([
      {
        seq: 1,
        action: 'compact',
        outcome: 'interrupted',
        detail: 'memgov restarted while the action ran',
      },
    ]);
  });
});
