// Crash consistency (issue 6, point 1), the short version: a few rounds of the kill -9 run that
// bench/crash-consistency.ts makes 200+ times, and the checks it relies on, each shown to catch
// what it is there to catch. Also what a kill leaves behind and who removes it: temp files beside
// the state file, and temp dirs under the archive root.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeCrashedTemps } from '../../adapters/archive/list.ts';
import { archiveSession } from '../../adapters/archive/write.ts';
import { identify, type ProcessIdentity } from '../../adapters/proc.ts';
import { removeStaleTemps, writeStateFile } from '../../adapters/state-file.ts';
import {
  checkArchives,
  checkNoRepeats,
  checkStateFile,
  Ledger,
  runCrashRounds,
  type Violation,
} from '../../bench/crash-consistency.support.ts';
import { BUNDLE } from '../support/cli.ts';

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'memgov-crash-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** A process that has exited, with the identity it had: its pid now names nothing. */
async function deadProcess(): Promise<ProcessIdentity> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  const identity = identify(child.pid ?? -1)._unsafeUnwrap();
  child.kill('SIGKILL');
  await once(child, 'exit');
  return identity;
}

async function archiveOf(root: string, sources: string[], nowMs: number) {
  return (
    await archiveSession({
      sources,
      archiveRoot: root,
      reason: 'tier3',
      nowMs,
      deadlineMs: Number.MAX_SAFE_INTEGER,
    })
  )._unsafeUnwrap();
}

describe('kill -9 at random moments (a few rounds of bench/crash-consistency.ts)', () => {
  it('every restart finds a readable state, whole archives, and no action run twice', async () => {
    const lines: string[] = [];
    const result = await runCrashRounds({
      rounds: 4,
      seed: 20_261_127,
      bundle: BUNDLE,
      workDir: work,
      maxKillDelayMs: 2_500,
      onRound: (line) => lines.push(line),
    });
    expect(result.violations, lines.join('\n')).toEqual([]);
    expect(result.totals.stateOk + result.totals.stateMissing).toBe(4);
    expect(result.totals.statusOk).toBe(result.totals.stateOk);
    // The run did act: compacts ran (each leaving a marker) and archives were written.
    expect(result.totals.actionsRun.compact ?? 0).toBeGreaterThan(0);
    expect(result.totals.archivesVerified).toBeGreaterThan(0);
  }, 60_000);
});

describe('the checks catch what they are for', () => {
  const record = (seq: number, action: string, ratio: number) => ({
    seq,
    action,
    atMs: 1_000 * seq,
    ratio,
    outcome: 'ok',
  });

  it('an action run twice, or by the memgov after the one that decided it, one never recorded, an extra SIGTERM, two archives for one action', () => {
    const ledger = new Ledger();
    const merged: Violation[] = [];
    ledger.merge([record(1, 'compact', 0.75), record(2, 'archive-terminate', 0.93)], 1, merged);
    expect(merged).toEqual([]);
    const clean = checkNoRepeats(
      ledger,
      [
        { action: 'compact', ratio: '0.75', pid: 10, instance: 1 },
        { action: 'terminate', ratio: '', pid: 11, instance: 0 },
      ],
      ['checkpoint#1', 'tier3#2'],
      1,
      [{ id: 1, startedAtMs: 500, endedAtMs: 1_500 }],
    );
    expect(clean).toEqual([]);
    const bad = checkNoRepeats(
      ledger,
      [
        { action: 'compact', ratio: '0.75', pid: 10, instance: 1 },
        { action: 'compact', ratio: '0.75', pid: 12, instance: 2 },
        { action: 'clear', ratio: '0.87', pid: 13, instance: 2 },
        { action: 'terminate', ratio: '', pid: 11, instance: 0 },
        { action: 'terminate', ratio: '', pid: 14, instance: 0 },
      ],
      ['tier3#2', 'tier3#2'],
      7,
      [
        { id: 1, startedAtMs: 500, endedAtMs: 1_500 },
        { id: 2, startedAtMs: 1_600, endedAtMs: 9_000 },
      ],
    );
    expect(bad.map((v) => v.what)).toEqual([
      'compact@0.75 was decided by memgov #1 but run by memgov #2: taken up again after a restart',
      'compact@0.75 ran 2 times for 1 decision(s): repeated',
      'clear@0.87 ran 1 time(s) but the state file never recorded it',
      '2 SIGTERMs for 1 archive-terminates',
      'two archives for tier3#2',
    ]);
  });

  it('a state that went back: an action number reused for another action', () => {
    const ledger = new Ledger();
    const violations: Violation[] = [];
    ledger.merge([record(1, 'compact', 0.75)], 1, violations);
    ledger.merge([record(1, 'compact', 0.76)], 2, violations);
    expect(violations).toEqual([
      {
        round: 2,
        what: 'action #1 was compact at 0.75, now compact at 0.76: the state went back',
      },
    ]);
  });

  it('a half archive under a final name, a changed file, and temp dirs told apart', async () => {
    const root = join(work, 'archive');
    const source = join(work, 'session.jsonl');
    writeFileSync(source, 'x'.repeat(1000));
    const whole = await archiveOf(root, [source], Date.UTC(2026, 0, 1));
    const damaged = await archiveOf(root, [source], Date.UTC(2026, 0, 2));
    truncateSync(join(damaged.dir, 'files', source.slice(1)), 10);
    mkdirSync(join(root, '2026-01-03T00-00-00.000Z-tier3'));
    mkdirSync(join(root, '.tmp-crashed'));
    const check = await checkArchives(root);
    expect(check.verified).toBe(1);
    expect(check.temps).toEqual([join(root, '.tmp-crashed')]);
    expect(check.byAction).toEqual(['tier3#undefined']);
    expect([...check.problems].sort()).toEqual(
      [
        `${join(root, '2026-01-03T00-00-00.000Z-tier3')}: named like an archive but has no valid manifest (a half archive)`,
        `${join(damaged.dir, 'files', source.slice(1))}: 10 bytes, manifest says 1000`,
      ].sort(),
    );
    expect(whole.dir).not.toBe(damaged.dir);
  });

  it('a torn state file is unusable, and said so', () => {
    const path = join(work, 'state');
    writeStateFile(path, { governor: null }, 1)._unsafeUnwrap();
    truncateSync(path, 20);
    expect(checkStateFile(path)).toMatchObject({ kind: 'unusable' });
  });
});

describe('what a kill leaves behind is removed, and only that', () => {
  it("state file temp files: a dead writer's and our pid's are removed at the first write, a live one's kept", async () => {
    const dir = join(work, 'state');
    mkdirSync(dir);
    const path = join(dir, 'mem_governor_state');
    const dead = await deadProcess();
    const leftovers = {
      dead: `${path}.tmp-${dead.pid}-0`,
      deadHex: `${path}.tmp-${dead.pid}-a1b2c3d4e5f6`,
      ours: `${path}.tmp-${process.pid}-7`,
      live: `${path}.tmp-1-0`, // pid 1 always runs
      other: `${path}.corrupt-2026-01-01T00-00-00.000Z`,
    };
    for (const file of Object.values(leftovers)) writeFileSync(file, '{"half":');
    expect(removeStaleTemps(path).sort()).toEqual(
      [leftovers.dead, leftovers.deadHex, leftovers.ours].sort(),
    );
    expect(readdirSync(dir).sort()).toEqual(
      ['mem_governor_state.corrupt-2026-01-01T00-00-00.000Z', 'mem_governor_state.tmp-1-0'].sort(),
    );
  });

  it("archive temp dirs: a dead process's are removed before the next archive; a live one's and a fresh untagged one stay", async () => {
    const root = join(work, 'archive');
    mkdirSync(root);
    const host = hostname().replace(/[^A-Za-z0-9-]/g, '_') || 'host';
    const dead = await deadProcess();
    const live = identify(1)._unsafeUnwrap();
    const temps = {
      dead: join(root, `.tmp-${host}.${dead.pid}.${dead.startTicks}-2026-x-tier3-abc`),
      deadPrune: join(root, `.tmp-${host}.${dead.pid}.${dead.startTicks}-pruned-2026-y`),
      live: join(root, `.tmp-${host}.1.${live.startTicks}-2026-z-tier3-def`),
      // pid 1, but another start: a recycled pid, so its owner is gone.
      recycled: join(root, `.tmp-${host}.1.${live.startTicks + 1}-2026-w-tier3-123`),
      otherHost: join(root, `.tmp-elsewhere.${dead.pid}.${dead.startTicks}-2026-v-tier3-456`),
      untagged: join(root, '.tmp-2026-01-01T00-00-00.000Z-tier3-789'),
    };
    for (const dir of Object.values(temps)) {
      mkdirSync(join(dir, 'files'), { recursive: true });
      writeFileSync(join(dir, 'files', 'part'), 'half');
    }
    expect((await removeCrashedTemps(root)).sort()).toEqual(
      [temps.dead, temps.deadPrune, temps.recycled].sort(),
    );
    const source = join(work, 'session.jsonl');
    writeFileSync(source, 'x');
    const made = await archiveOf(root, [source], Date.UTC(2026, 0, 1));
    expect(made.pruned).toEqual([]);
    expect(readdirSync(root).sort()).toEqual(
      [
        '2026-01-01T00-00-00.000Z-tier3',
        ...[temps.live, temps.otherHost, temps.untagged].map((p) => p.slice(root.length + 1)),
      ].sort(),
    );
  });
});
