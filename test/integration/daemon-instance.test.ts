// One memgov per state file, and a state file that survives anything: the shipped bundle started
// twice at the same instant, over a lock left by a dead process, and over a corrupt state file.
// memgov observes an empty child cgroup of our own here (no agent): nothing is ever acted on.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cgroupParent,
  Cleanup,
  createTestCgroup,
  isGone,
  MIB,
  startMemgov,
  statusJson,
  tempDir,
  waitForStatus,
  type DaemonProcess,
} from '../support/daemon.ts';

const ANOTHER = 'another memgov already governs here; exiting';
const UNUSABLE = 'state file unusable: moved aside, starting fresh';
const ROUNDS = 20;

const skipReason = cgroupParent.isErr() ? cgroupParent.error : '';
const title =
  skipReason === ''
    ? 'memgov run: single instance and state file recovery (real cgroup v1 child)'
    : `memgov run: single instance (skipped: ${skipReason})`;

function lockOwner(lockPath: string): number | undefined {
  try {
    const { pid } = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: unknown };
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

describe.skipIf(skipReason !== '')(title, () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  function observer(): { stateFile: string; lockPath: string; args: string[] } {
    const dir = tempDir(cleanup);
    const cgroup = createTestCgroup(cleanup, 256 * MIB);
    const stateFile = join(dir, 'state', 'mem_governor_state');
    return {
      stateFile,
      lockPath: `${stateFile}.lock`,
      args: ['run', '--state-file', stateFile, '--cgroup', cgroup.dir, '--log-format', 'json'],
    };
  }

  it(`two memgov started at the same instant: exactly one governs (${ROUNDS} rounds)`, async () => {
    const { lockPath, args } = observer();
    for (let round = 1; round <= ROUNDS; round++) {
      const startedAtMs = Date.now();
      const pair = [startMemgov(cleanup, args), startMemgov(cleanup, args)] as const;
      const loser = await Promise.race(pair.map((m) => m.exited.then(() => m)));
      const exitedAfterMs = Date.now() - startedAtMs;
      const survivor = pair[0] === loser ? pair[1] : pair[0];
      const context = `round ${round}: loser ${loser.pid}\n${loser.tail()}\nsurvivor ${survivor.pid}\n${survivor.tail()}`;

      expect(loser.exitStatus(), context).toEqual({ code: 0, signal: null });
      expect(exitedAfterMs, context).toBeLessThan(5_000);
      const refusals = loser.named(ANOTHER);
      expect(refusals, context).toHaveLength(1);
      // The owner's pid, or 0 if the lock was caught between its creation and its write.
      expect([survivor.pid, 0], context).toContain(refusals[0]?.ownerPid);
      expect(loser.named('memgov started'), context).toEqual([]);

      await survivor.waitFor(
        'the survivor to govern',
        (r) => r.message === 'memgov started',
        5_000,
      );
      expect(survivor.exitStatus(), context).toBeNull();
      expect(survivor.named(ANOTHER), context).toEqual([]);
      expect(lockOwner(lockPath), context).toBe(survivor.pid);

      expect(await survivor.stop(), context).toEqual({ code: 0, signal: null });
      expect(existsSync(lockPath), context).toBe(false);
    }
  }, 90_000);

  it('a lock left by a dead process is taken over', async () => {
    const { lockPath, args } = observer();
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(dead, 'exit');
    const deadPid = dead.pid;
    if (deadPid === undefined) throw new Error('node -e "" did not start');
    expect(isGone(deadPid)).toBe(true);
    mkdirSync(dirname(lockPath), { recursive: true });
    // The lock format of adapters/lock.ts; procStart null: the owner's start time is unknown.
    writeFileSync(lockPath, JSON.stringify({ pid: deadPid, startedAtMs: 0, procStart: null }));

    const memgov = startMemgov(cleanup, args);
    await memgov.waitFor('memgov to govern', (r) => r.message === 'memgov started', 10_000);
    expect(memgov.named(ANOTHER)).toEqual([]);
    expect(memgov.exitStatus()).toBeNull();
    expect(lockOwner(lockPath)).toBe(memgov.pid);
    // The takeover leaves nothing beside the lock (no .stale-* or .takeover-* file).
    expect(readdirSync(dirname(lockPath)).filter((name) => name.includes('.lock.'))).toEqual([]);
    expect(await memgov.stop()).toEqual({ code: 0, signal: null });
  }, 30_000);

  it('a corrupt state file is moved aside byte for byte and memgov starts fresh', async () => {
    const { stateFile, args } = observer();
    const garbage = Buffer.concat([
      Buffer.from('{"memgov":"state","version":1,"savedAtMs":17'),
      Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0xc3, 0x28]),
      Buffer.from('}} not json at all\n'),
    ]);
    mkdirSync(dirname(stateFile), { recursive: true });
    writeFileSync(stateFile, garbage);

    const memgov: DaemonProcess = startMemgov(cleanup, args);
    const started = await memgov.waitFor(
      'memgov to govern',
      (r) => r.message === 'memgov started',
      10_000,
    );
    expect(started.restored).toBe(false);
    const moved = memgov.named(UNUSABLE);
    expect(moved).toHaveLength(1);
    const record = moved[0];
    expect(record).toMatchObject({ level: 'WARN', path: stateFile, moveError: null });
    expect(record?.reason).toMatch(/^not JSON: unexpected .* at position \d+$/);
    const movedTo = record?.movedTo as string;
    expect(movedTo.startsWith(`${stateFile}.corrupt-`)).toBe(true);
    expect(readFileSync(movedTo).equals(garbage)).toBe(true);
    expect(
      readdirSync(dirname(stateFile)).filter((name) => name.includes('.corrupt-')),
    ).toHaveLength(1);

    // A fresh, readable state file replaces it. (While memgov idles it records the snapshot from
    // before its first decision, a product bug reported separately; the one written at stop has
    // the decisions.)
    await waitForStatus(stateFile, 'a fresh state file', () => true, 10_000);
    expect(await memgov.stop()).toEqual({ code: 0, signal: null });
    const status = await statusJson(stateFile);
    expect(status).toMatchObject({ decided: true, tier: 0, actions: [] });
    expect(memgov.named(UNUSABLE)).toHaveLength(1);
  }, 30_000);
});
