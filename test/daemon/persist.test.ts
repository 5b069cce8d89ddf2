// The state file is current: when a decision is logged (right after it is persisted), the file
// already holds it. So a kill -9 just after a dispatch keeps the action on disk (a restart will
// not decide it again), and `memgov status` works while nothing is happening.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { readStateFile } from '../../adapters/state-file.ts';
import { memoryLog, type Log } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';
import type { GovernorContext } from '../../machines/governor.machine.ts';

const FIXTURE = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;
const LIMIT = 64 * 1024 * 1024;

function onDisk(stateFile: string): GovernorContext | null {
  const read = readStateFile(stateFile)._unsafeUnwrap();
  if (read.kind !== 'ok') return null;
  return (read.snapshot as { context: { governor: GovernorContext | null } }).context.governor;
}

/** Governs a fixture cgroup at `ratio`, moving to `thenRatio` after the first decision. */
async function governWhile(
  ratio: number,
  thenRatio: number,
  check: (log: ReturnType<typeof memoryLog>) => boolean,
) {
  const work = mkdtempSync(join(tmpdir(), 'memgov-persist-'));
  const cgroup = join(work, 'cgroup');
  cpSync(FIXTURE, cgroup, { recursive: true });
  writeFileSync(join(cgroup, 'memory.usage_in_bytes'), `${Math.round(ratio * LIMIT)}\n`);
  const stateFile = join(work, 'state');
  const seenOnDisk: (GovernorContext | null)[] = [];
  const records = memoryLog();
  const usage = join(cgroup, 'memory.usage_in_bytes');
  const seen = (): void => {
    seenOnDisk.push(onDisk(stateFile));
    writeFileSync(usage, `${Math.round(thenRatio * LIMIT)}\n`);
  };
  // Reads the file at the instant each decision is reported: what a kill -9 then would leave.
  const log: Log = {
    ...records,
    debug: (message, fields) => {
      if (message === 'decision') seen();
      records.debug(message, fields);
    },
    warn: (message, fields) => {
      if (message === 'decision') seen();
      records.warn(message, fields);
    },
  };
  const config = loadConfig({
    env: {},
    flags: { minPollMs: '100', urgentPollMs: '100' },
    daemonFlags: { cgroup, stateFile, logLevel: 'debug', dryRun: true },
  })._unsafeUnwrap();
  let stop: (why: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => (stop = resolve));
  const done = runDaemon({ config, agentCommand: [], log, stopSignal });
  const deadline = Date.now() + 10_000;
  while (!check(records) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
  stop('test over');
  expect(await done).toBe(0);
  return { seenOnDisk, records };
}

describe('the state file is never a step behind', () => {
  it('holds a dispatched compact by the time the decision is logged', async () => {
    const { seenOnDisk, records } = await governWhile(0.3, 0.75, (log) =>
      log.records.some((r) => r.message === 'decision' && r.fields.action === 'compact'),
    );
    const atCompact =
      seenOnDisk[records.records.filter((r) => r.message === 'decision').length - 1];
    expect(atCompact?.actions[0]).toMatchObject({ seq: 1, action: 'compact' });
    expect(atCompact?.facts.lastCompact?.ratio).toBe(0.75);
  });

  it('holds the first decision while nothing happens, so status has something to show', async () => {
    const { seenOnDisk } = await governWhile(0.3, 0.3, (log) =>
      log.records.some((r) => r.message === 'decision'),
    );
    expect(seenOnDisk[0]?.decision?.ratio).toBeCloseTo(0.3, 6);
  });
});
