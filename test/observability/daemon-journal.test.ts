// The decision journal as the daemon writes it: driven through a compact over a fixture cgroup,
// it holds one sample line per decision (in step with the `decision` log records) and one result
// line per action result, and `memgov replay` over it reproduces the live decisions. A journal
// that cannot be written is reported once per kind of failure while governing goes on.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JournalRecord } from '../../adapters/journal.ts';
import { runMain } from '../support/cli.ts';
import { Cleanup, tempDir } from '../support/daemon.ts';
import { decisionCount, LIMIT_BYTES, shrinkArgv, startDaemon } from './fixture-daemon.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

function readJournal(path: string): JournalRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as JournalRecord);
}

describe('the daemon journal', () => {
  it('records each decision and each result, and replays to the same decisions', async () => {
    // Outside the daemon's scratch directory, which its stop removes.
    const path = join(tempDir(cleanup), 'journal.jsonl');
    const daemon = startDaemon(cleanup, 0.75, (work) => ({
      agent: { commandArgv: { compact: shrinkArgv(work, 0.5) } },
      journal: { path },
    }));
    await daemon.waitFor('action effect');
    expect(await daemon.stop()).toBe(0);

    const records = readJournal(path);
    const samples = records.filter((r) => r.kind === 'sample');
    const decisions = daemon.log.records.filter((r) => r.message === 'decision');
    expect(samples.map((s) => [s.t, s.action, s.reason])).toEqual(
      decisions.map((d) => [d.fields.t, d.fields.action, d.fields.reason]),
    );
    expect(samples[0]).toEqual({
      kind: 'sample',
      t: samples[0]?.t,
      current: 0.75 * LIMIT_BYTES,
      inactiveFile: 0,
      limit: LIMIT_BYTES,
      ratio: 0.75,
      state: expect.stringMatching(/^ladder\.compacted,tier3\.armed,polling\./) as string,
      tier: 1,
      action: 'compact',
      reason: 'tier1-compact',
      nextPollMs: 0,
      // The fixture is v1: PSI is the system's, where the kernel has it.
      ...(existsSync('/proc/pressure/memory')
        ? { pressureSomeAvg10Pct: expect.any(Number) as number }
        : {}),
    });
    expect(samples.at(-1)).toMatchObject({ current: 0.5 * LIMIT_BYTES, tier: 1, action: null });
    const results = records.filter((r) => r.kind === 'result');
    expect(results).toEqual([
      {
        kind: 'result',
        t: results[0]?.t,
        seq: 1,
        action: 'compact',
        outcome: 'ok',
        durationMs: results[0]?.durationMs,
        detail: results[0]?.detail,
      },
    ]);
    expect(results[0]?.durationMs).toBeGreaterThan(0);

    // The journal is a trace: the governor replayed over it decides what the daemon decided.
    const policy = join(tempDir(cleanup), 'policy.json');
    writeFileSync(policy, JSON.stringify({ minPollMs: 100, urgentPollMs: 100 }));
    const replay = await runMain(['replay', path, '--json', '--config', policy]);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    const replayed = replay.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { t: number; action: string | null; state: string });
    // Replay asks for samples at the governor's deadlines only; the daemon also samples at once
    // after each action result. Every line replay sees is decided as the daemon decided it.
    const live = new Map(samples.map((s) => [s.t, [s.t, s.action, s.state]]));
    expect(replayed.map((r) => [r.t, r.action, r.state])).toEqual(
      replayed.map((r) => live.get(r.t)),
    );
    expect(replayed.filter((r) => r.action !== null).map((r) => r.action)).toEqual(['compact']);
    expect(replayed.length).toBeGreaterThanOrEqual(2);
  });

  it('records a rise of the kernel oom_kill counter with the tier the governor stood at', async () => {
    const path = join(tempDir(cleanup), 'journal.jsonl');
    const daemon = startDaemon(cleanup, 0.75, () => ({ journal: { path } }));
    await daemon.waitFor('decision', (d) => d.action === 'compact');
    const oomControl = join(daemon.work, 'cgroup', 'memory.oom_control');
    writeFileSync(oomControl, 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    const logged = await daemon.waitFor('kernel OOM kill');
    expect(await daemon.stop()).toBe(0);

    expect(logged).toMatchObject({ kills: 1, totalKills: 1, tier: 1 });
    const ooms = readJournal(path).filter((r) => r.kind === 'oom');
    expect(ooms).toEqual([
      {
        kind: 'oom',
        t: logged.t,
        kills: 1,
        totalKills: 1,
        tier: 1,
        state: expect.stringMatching(/^ladder\.compacted,/) as string,
      },
    ]);
    // The timeline draws it.
    const html = join(tempDir(cleanup), 'timeline.html');
    const timeline = await runMain(['timeline', path, '--html', html]);
    expect(timeline.stderr).toBe('');
    expect(readFileSync(html, 'utf8')).toMatch(/<g class="oom" data-count="1" data-tier="1">/);
  });

  it('is written beside the state file by default, and not at all with journal.path: off', async () => {
    const on = startDaemon(cleanup, 0.3);
    const off = startDaemon(cleanup, 0.3, () => ({ journal: { path: 'off' } }));
    await on.waitFor('decision');
    await off.waitFor('decision');
    // By default the journal lies beside the state file.
    const besideState = (work: string): string => join(work, 'mem_governor_journal.jsonl');
    // The first line marks the start (pid, limit and its source), then the samples follow.
    expect(readFileSync(besideState(on.work), 'utf8')).toMatch(
      /^\{"kind":"start","t":\d+,"pid":\d+,"limitBytes":67108864,"limitSource":"max"\}\n\{"kind":"sample"/,
    );
    expect(() => readFileSync(besideState(off.work))).toThrow(/ENOENT/);
  });

  it('logs a failing journal once per kind of failure, and governing goes on', async () => {
    const daemon = startDaemon(cleanup, 0.3, (work) => {
      const path = join(work, 'journal.jsonl');
      // Rotation moves the live file onto journal.jsonl.1: a directory there makes it fail.
      mkdirSync(join(`${path}.1`, 'in-the-way'), { recursive: true });
      return { journal: { path, maxBytes: 4096, keep: 1 } };
    });
    // ~250 bytes a line: rotation is due after some 16 samples; wait for many more than that.
    await daemon.waitFor('decision', () => decisionCount(daemon) >= 24, 20_000);
    expect(await daemon.stop()).toBe(0);
    const failures = daemon.log.records.filter((r) => r.message.startsWith('journal not'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ level: 'error' });
    expect(failures[0]?.fields.detail).toMatch(
      /journal\.jsonl: cannot rotate to .*journal\.jsonl\.1/,
    );
  });
});
