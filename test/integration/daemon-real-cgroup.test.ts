// The whole daemon (the shipped bundle) against a real cgroup v1 memory controller: each test
// makes a child cgroup of our own (256 MiB; 512 MiB for the burst), launches `memgov run --
// synthetic-agent` whose memory grows inside it, and reads memgov's JSON log and `memgov status
// --json`. The agent moves itself into the cgroup after Node has started, so the cgroup is charged
// what it holds plus ~3 MiB (measured: 100 MiB held read as 102-104 MiB), not Node's footprint.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signalVerified } from '../../adapters/proc.ts';
import {
  actionsDecided,
  cgroupParent,
  Cleanup,
  createTestCgroup,
  isGone,
  MIB,
  pollUntil,
  startMemgov,
  statusJson,
  syntheticAgent,
  tempDir,
  waitForStatus,
  writeConfig,
  type DaemonProcess,
  type LogRecord,
  type StatusAction,
  type TestCgroup,
} from '../support/daemon.ts';

const LIMIT_BYTES = 256 * MIB;
const COMPACT_AT = 0.7;
const CLEAR_AT = 0.85;

const skipReason = cgroupParent.isErr() ? cgroupParent.error : '';
const title =
  skipReason === ''
    ? 'memgov run on a real cgroup v1 child with a synthetic agent'
    : `memgov run on a real cgroup (skipped: ${skipReason})`;

interface Scenario {
  readonly dir: string;
  readonly cgroup: TestCgroup;
  readonly stateFile: string;
  readonly sessionDir: string;
  readonly archiveDir: string;
  readonly runArgs: readonly string[];
}

function isDecision(record: LogRecord): boolean {
  return record.message === 'decision';
}

function decidedAction(action: string) {
  return (record: LogRecord): boolean => isDecision(record) && record.action === action;
}

/** Lines the synthetic agent printed (on memgov's stdout, which it inherits). */
function agentLines(output: string, prefix: string): string[] {
  return output.split('\n').filter((line) => line.startsWith(prefix));
}

describe.skipIf(skipReason !== '')(title, () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /**
   * A cgroup (256 MiB unless said otherwise), a temp dir, and a config: 250 ms polls at most,
   * archive of the session dir. `agent` adds agent settings that may name the cgroup.
   */
  function scenario(
    options: {
      readonly limitBytes?: number;
      readonly policy?: Readonly<Record<string, unknown>>;
      readonly agent?: (cgroupDir: string) => Readonly<Record<string, unknown>>;
    } = {},
  ): Scenario {
    const { limitBytes = LIMIT_BYTES, policy = {}, agent = () => ({}) } = options;
    const dir = tempDir(cleanup);
    const cgroup = createTestCgroup(cleanup, limitBytes);
    const stateFile = join(dir, 'state', 'mem_governor_state');
    const sessionDir = join(dir, 'session');
    const archiveDir = join(dir, 'archive');
    const config = writeConfig(dir, {
      minPollMs: 250,
      urgentPollMs: 250,
      ...policy,
      stateFile,
      agent: { terminateGraceMs: 3_000, ...agent(cgroup.dir) },
      archive: { dir: archiveDir, paths: [sessionDir] },
    });
    const runArgs = [
      'run',
      '--cgroup',
      cgroup.dir,
      '--config',
      config,
      '--log-format',
      'json',
      '--log-level',
      'debug',
    ];
    return { dir, cgroup, stateFile, sessionDir, archiveDir, runArgs };
  }

  it('slow growth is resolved by one compact: no clear, no archive-terminate', async () => {
    const s = scenario();
    // Starts at ~60%, reaches 70% in ~2.5 s. Capped at 190 MiB held (~75%): whatever the GC
    // does after the compact, the agent can never reach clearAt on its own.
    const memgov = startMemgov(
      cleanup,
      s.runArgs,
      syntheticAgent(s.cgroup.dir, {
        'start-mib': 150,
        'grow-mib-per-s': 8,
        'compact-frees-pct': 40,
        'clear-frees-pct': 0,
        'max-mib': 190,
        'session-dir': s.sessionDir,
      }),
    );
    const compact = await memgov.waitFor('the compact decision', decidedAction('compact'), 20_000);
    expect(compact.ratio).toBeGreaterThanOrEqual(COMPACT_AT);
    expect(compact.ratio).toBeLessThan(CLEAR_AT);
    const compactT = compact.t as number;
    await memgov.waitFor(
      'memory well below compactAt after the compact',
      (r) => isDecision(r) && (r.t as number) > compactT && (r.ratio as number) < 0.6,
      15_000,
    );
    await memgov.waitFor(
      'decisions 10 s after the compact',
      (r) => isDecision(r) && (r.t as number) >= compactT + 10_000,
      15_000,
    );

    expect(actionsDecided(memgov)).toEqual([{ action: 'compact', ratio: compact.ratio }]);
    expect(agentLines(memgov.output(), 'Compacted')).toHaveLength(1);
    expect(agentLines(memgov.output(), 'Cleared')).toEqual([]);
    const status = await statusJson(s.stateFile);
    expect(status.actions).toEqual([
      expect.objectContaining({ seq: 1, action: 'compact', atMs: compactT, outcome: 'ok' }),
    ]);
    expect(status.oomKills?.kills).toBe(0);
    expect(s.cgroup.oomKills()).toBe(0);
  }, 45_000);

  it('a compact that frees nothing is followed by a clear past clearAt', async () => {
    // terminateAt 0.95 and a 225 MiB cap (~89%): this test is about tier 2, tier 3 stays out.
    const s = scenario({ policy: { terminateAt: 0.95 } });
    const memgov = startMemgov(
      cleanup,
      s.runArgs,
      syntheticAgent(s.cgroup.dir, {
        'start-mib': 160,
        'grow-mib-per-s': 12,
        'compact-frees-pct': 0,
        'clear-frees-pct': 40,
        'max-mib': 225,
        'session-dir': s.sessionDir,
      }),
    );
    const compact = await memgov.waitFor('the compact decision', decidedAction('compact'), 20_000);
    const clear = await memgov.waitFor('the clear decision', decidedAction('clear'), 20_000);
    expect(compact.ratio).toBeGreaterThanOrEqual(COMPACT_AT);
    expect(clear.ratio).toBeGreaterThanOrEqual(CLEAR_AT);
    expect(clear.ratio).toBeGreaterThan(compact.ratio as number);
    expect(clear.t).toBeGreaterThan(compact.t as number);

    const status = await waitForStatus(
      s.stateFile,
      'the clear recorded with a result',
      (st) => st.actions?.some((a) => a.action === 'clear' && a.outcome !== 'pending') === true,
      10_000,
    );
    expect(status.actions).toEqual([
      expect.objectContaining({ seq: 1, action: 'compact', atMs: compact.t, outcome: 'ok' }),
      expect.objectContaining({ seq: 2, action: 'clear', atMs: clear.t, outcome: 'ok' }),
    ]);
    expect(actionsDecided(memgov).map((a) => a.action)).toEqual(['compact', 'clear']);
    expect(agentLines(memgov.output(), 'Compacted (freed 0 MiB')).toHaveLength(1);
    expect(agentLines(memgov.output(), 'Cleared')).toHaveLength(1);
    expect(s.cgroup.oomKills()).toBe(0);
  }, 45_000);

  it('a burst after the clear: archive-terminate before the kernel acts, then a relaunch', async () => {
    // Compact and clear free nothing; after the clear the agent grows 100 MiB/s. In a 256 MiB
    // cgroup with 250 ms polls, tier 3 was decided at 94-96% (4 runs): 10-15 MiB, 0.1-0.15 s
    // before the limit. 512 MiB and 100 ms polls leave ~3x that: tier 3 at 91.2-91.5% (3 runs),
    // ~44 MiB or ~0.44 s before the limit, which a loaded 2-core machine needs.
    const s = scenario({
      limitBytes: 512 * MIB,
      policy: { minPollMs: 100, urgentPollMs: 100 },
    });
    const memgov = startMemgov(
      cleanup,
      s.runArgs,
      syntheticAgent(s.cgroup.dir, {
        'start-mib': 330,
        'grow-mib-per-s': 24,
        'compact-frees-pct': 0,
        'clear-frees-pct': 0,
        'burst-mib-per-s': 100,
        'session-dir': s.sessionDir,
      }),
    );
    const first = await memgov.waitFor(
      'the agent to start',
      (r) => r.message === 'agent started',
      10_000,
    );
    const terminate = await memgov.waitFor(
      'the archive-terminate decision',
      decidedAction('archive-terminate'),
      25_000,
    );
    const exit = await memgov.waitFor(
      'the agent to exit',
      (r) => r.message === 'agent exited',
      10_000,
    );
    const relaunched = await memgov.waitFor(
      'the relaunched agent',
      (r) => r.message === 'agent started' && r.pid !== first.pid,
      10_000,
    );

    expect(actionsDecided(memgov).map((a) => a.action)).toEqual([
      'compact',
      'clear',
      'archive-terminate',
    ]);
    expect(terminate.ratio).toBeGreaterThanOrEqual(0.9);
    // The agent shut down on SIGTERM by itself (exit 0, no signal): nothing was SIGKILLed.
    expect(exit).toMatchObject({ code: 0, signal: null, relaunch: true });
    expect(memgov.named('agent exited')).toHaveLength(1);
    expect(memgov.named('relaunching agent')).toHaveLength(1);
    expect(isGone(first.pid as number)).toBe(true);
    expect(relaunched.pid).not.toBe(first.pid);
    expect(s.cgroup.oomKills()).toBe(0);

    // Final-named archives only (never a leftover .tmp-*): the checkpoint taken after the tier-1
    // compact, then the tier-3 archive, which holds the session file and its hash.
    const archives = readdirSync(s.archiveDir).sort();
    expect(archives).toHaveLength(2);
    expect(archives[0]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z-checkpoint$/);
    const name = archives[1] as string;
    expect(name).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z-tier3$/);
    const archive = join(s.archiveDir, name);
    const manifest = JSON.parse(readFileSync(join(archive, 'manifest.json'), 'utf8')) as {
      files: { path: string; size: number; sha256: string }[];
      complete: boolean;
      seq: number;
    };
    const sessionFile = join(s.sessionDir, 'session.json');
    const copy = readFileSync(join(archive, 'files', sessionFile.slice(1)));
    expect(manifest).toMatchObject({ complete: true, seq: 3 });
    expect(manifest.files).toEqual([
      expect.objectContaining({
        path: sessionFile,
        size: copy.length,
        sha256: createHash('sha256').update(copy).digest('hex'),
      }),
    ]);
    // The copy is the agent's session from before the SIGTERM (it saved again on the way out).
    expect(JSON.parse(copy.toString('utf8'))).toMatchObject({ pid: first.pid, why: 'start' });
    expect(memgov.output()).toContain(
      `synthetic agent ${String(first.pid)}: SIGTERM, session saved, exiting`,
    );

    const status = await waitForStatus(
      s.stateFile,
      'archive-terminate recorded with a result',
      (st) => st.actions?.at(-1)?.outcome !== 'pending',
      10_000,
    );
    expect(status.actions?.map((a) => [a.action, a.outcome])).toEqual([
      ['compact', 'ok'],
      ['clear', 'ok'],
      ['archive-terminate', 'ok'],
    ]);
    expect(status.oomKills?.kills).toBe(0);
  }, 60_000);

  /** Kills memgov with SIGKILL and its agent's process group (memgov launched it in its own). */
  async function killHard(memgov: DaemonProcess): Promise<void> {
    await memgov.kill9();
    const agents = memgov.agents();
    expect(agents).toHaveLength(1);
    for (const agent of agents) {
      expect(signalVerified(agent, 'SIGKILL', { group: true }).isOk()).toBe(true);
      await pollUntil('the old agent to exit', 5_000, () => (isGone(agent.pid) ? true : undefined));
    }
  }

  /**
   * Restarts memgov on the same state file with an agent held at ~75% (189 MiB + ~3 MiB of
   * Node: past compactAt, below clearAt, not growing) and watches 8 s of its decisions there.
   */
  async function restartAt75(s: Scenario): Promise<DaemonProcess> {
    const second = startMemgov(
      cleanup,
      s.runArgs,
      syntheticAgent(s.cgroup.dir, {
        'start-mib': 189,
        'grow-mib-per-s': 0,
        'compact-frees-pct': 50,
        'session-dir': s.sessionDir,
      }),
    );
    const started = await second.waitFor(
      'the restarted memgov',
      (r) => r.message === 'memgov started',
      10_000,
    );
    expect(started.restored).toBe(true);
    // Only samples taken by this memgov: after an interrupt, a restored memgov logs the last
    // decision from before the kill once more (its old `t` and ratio).
    const startedAtMs = Date.parse(started.time as string);
    const firstHigh = await second.waitFor(
      'a decision at ~75%',
      (r) => isDecision(r) && (r.t as number) >= startedAtMs && (r.ratio as number) >= 0.72,
      15_000,
    );
    await second.waitFor(
      '8 s of decisions at ~75%',
      (r) => isDecision(r) && (r.t as number) >= (firstHigh.t as number) + 8_000,
      15_000,
    );
    const high = second.named('decision').filter((r) => (r.t as number) >= (firstHigh.t as number));
    expect(high.length).toBeGreaterThanOrEqual(5);
    for (const record of high) {
      expect(record.ratio).toBeGreaterThanOrEqual(COMPACT_AT);
      expect(record.ratio).toBeLessThan(CLEAR_AT);
    }
    expect(actionsDecided(second)).toEqual([]);
    // Nothing was typed into the new agent: it never printed a compaction.
    expect(agentLines(second.output(), 'Compacted')).toEqual([]);
    return second;
  }

  it('kill -9 inside the compact window: the restarted memgov does not compact again', async () => {
    const s = scenario();
    const first = startMemgov(
      cleanup,
      s.runArgs,
      syntheticAgent(s.cgroup.dir, {
        'start-mib': 160,
        'grow-mib-per-s': 12,
        'compact-frees-pct': 0,
        'session-dir': s.sessionDir,
      }),
    );
    await first.waitFor('the compact decision', decidedAction('compact'), 20_000);
    // Killed as soon as the compact is on disk. Not at the decision itself: the state file lags
    // one transition behind, so a kill right there loses the compact and the restarted memgov
    // compacts again (a product bug, reported with a reproduction; not tested here).
    await waitForStatus(
      s.stateFile,
      'the compact in the state file',
      (st) => st.actions?.some((a) => a.action === 'compact') === true,
      10_000,
    );
    await killHard(first);
    const before = await statusJson(s.stateFile);
    expect(before.actions).toEqual([expect.objectContaining({ seq: 1, action: 'compact' })]);
    const compactBefore = before.actions?.[0] as StatusAction;

    await restartAt75(s);

    const after = await statusJson(s.stateFile);
    expect(after.actions).toHaveLength(1);
    expect(after.actions?.[0]).toMatchObject({ seq: compactBefore.seq, atMs: compactBefore.atMs });
    // A compact still pending at the kill is interrupted; a finished one keeps its result.
    expect(after.actions?.[0]?.outcome).toBe(
      compactBefore.outcome === 'pending' ? 'interrupted' : compactBefore.outcome,
    );
    expect(after.compactWindow).toMatchObject({ compactAtMs: compactBefore.atMs, open: true });
    expect(s.cgroup.oomKills()).toBe(0);
  }, 45_000);

  it('kill -9 while the compact runs: it is recorded interrupted and never run again', async () => {
    // The compact goes through the command transport, to a command that takes 30 s (it joins
    // the test cgroup first, so the cgroup's cleanup kills it): memgov dies with it in flight.
    const s = scenario({
      agent: (cgroupDir) => ({
        commandArgv: {
          compact: [
            process.execPath,
            '-e',
            'require("fs").writeFileSync(process.argv[1] + "/cgroup.procs", String(process.pid));' +
              'setTimeout(() => {}, 30000);',
            cgroupDir,
          ],
        },
      }),
    });
    const first = startMemgov(
      cleanup,
      [...s.runArgs, '--transport', 'command'],
      syntheticAgent(s.cgroup.dir, {
        'start-mib': 160,
        'grow-mib-per-s': 12,
        'compact-frees-pct': 0,
        'session-dir': s.sessionDir,
      }),
    );
    await first.waitFor('the compact decision', decidedAction('compact'), 20_000);
    const compactCommand = await pollUntil('the compact command to run', 10_000, () =>
      s.cgroup.pids().find((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('setTimeout');
        } catch {
          return false;
        }
      }),
    );
    await waitForStatus(
      s.stateFile,
      'the compact in the state file',
      (st) => st.actions?.some((a) => a.action === 'compact') === true,
      10_000,
    );
    await killHard(first);
    expect(isGone(compactCommand)).toBe(false); // still in flight when memgov died
    const before = await statusJson(s.stateFile);
    expect(before.actions).toEqual([
      expect.objectContaining({ seq: 1, action: 'compact', outcome: 'pending' }),
    ]);
    const compactBefore = before.actions?.[0] as StatusAction;

    await restartAt75(s);

    const after = await statusJson(s.stateFile);
    expect(after.actions).toEqual([
      expect.objectContaining({
        seq: compactBefore.seq,
        atMs: compactBefore.atMs,
        action: 'compact',
        outcome: 'interrupted',
      }),
    ]);
    expect(after.compactWindow).toMatchObject({ compactAtMs: compactBefore.atMs, open: true });
  }, 45_000);
});
