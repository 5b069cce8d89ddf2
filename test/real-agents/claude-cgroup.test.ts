// The real Claude Code CLI in a real cgroup v1 memory controller (a child cgroup of our own),
// governed by memgov's runDaemon: no fixture sets the ratio, claude's own RSS growth does. The
// fake Anthropic API answers with 300 KB replies; claude's working set grows from about 140 MiB
// fresh to 330-410 MiB after three or four turns, where its GC holds it (measured, see
// docs/BENCHMARKS.md), so a 520 MiB limit is crossed at compactAt (70%, 364 MiB) within a few turns. Only the cgroup this file creates is written
// to; it is removed after the test, pass or fail.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../support/fake-anthropic.ts';
import { requireClaudeBinary, startRealClaude } from '../support/real-claude.ts';
import {
  endAll,
  governClaude,
  growWhileBusy,
  onCleanup,
  resultOf,
} from '../support/real-claude-memgov.ts';
import { Cleanup, cgroupParent, createTestCgroup, MIB } from '../support/daemon.ts';

const LIMIT_BYTES = 520 * MIB;

beforeAll(requireClaudeBinary);

afterEach(endAll);

const title = cgroupParent.match(
  (dir) => `the real claude in a real v1 child cgroup of ${dir}`,
  (why) => `the real claude in a real v1 cgroup (skipped: ${why})`,
);

describe.skipIf(cgroupParent.isErr())(title, () => {
  it('its RSS growth crosses compactAt: memgov compacts it for real, checkpoints, no OOM kill', async () => {
    const cleanup = new Cleanup();
    onCleanup(() => cleanup.run());
    const cgroup = createTestCgroup(cleanup, LIMIT_BYTES);
    const fake = await startFakeAnthropic();
    onCleanup(() => fake.close());
    const claude = startRealClaude({ baseUrl: fake.baseUrl, cgroupDir: cgroup.dir });
    onCleanup(() => claude.stop());
    await claude.waitForIdle(60_000);
    expect(cgroup.pids()).toContain(claude.findClaudePid());
    const daemon = governClaude(claude, {}, 'pid', cgroup.dir);
    const fresh = await daemon.waitFor('decision', () => true, 10_000);
    expect(fresh.action).toBeNull();
    // 300 KB answers streamed over about 3 s (15 chunks, 200 ms apart).
    Object.assign(fake.mode, { bigReplyKb: 300, chunkCount: 15, chunkDelayMs: 200 });
    const grown = await growWhileBusy(claude, fake, daemon, { maxTurns: 30, prefix: 'BIG' });
    expect(grown.decision).toMatchObject({ action: 'compact', limitBytes: LIMIT_BYTES });
    expect(Number(grown.decision.ratio)).toBeGreaterThanOrEqual(0.7);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 90_000);
    expect(compact.outcome).toBe('ok');
    expect(String(compact.detail)).toMatch(/compaction finished.*checkpoint: archived/);
    // memgov's own measure of the rung: the first sample after the compact finished.
    const effect = await daemon.waitFor('action effect', resultOf('compact'), 20_000);
    expect(Number(effect.usedBytesBefore)).toBe(grown.decision.usedBytes);
    expect(cgroup.oomKills()).toBe(0);
  }, 120_000);
});
