// A kernel OOM kill on a real cgroup v2 kernel, with memgov watching under --dry-run (it decides
// and records, and executes nothing): the kill is in `memgov status`, in the state file and in the
// decision journal, with the tier memgov stood at, within a second of the kill. memgov runs
// outside the cgroup (`--cgroup DIR`), so the kernel's victim is the allocator.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  parseJournalLine,
  type JournalLine,
  type JournalOomRecord,
} from '../../adapters/journal.ts';
import { readStateFile } from '../../adapters/state-file.ts';
import { runBundle } from '../support/cli.ts';
import type { PersistedSystem } from '../../actors/persistence.ts';
import {
  Cleanup,
  pollUntil,
  startMemgov,
  statusJson,
  tempDir,
  writeConfig,
} from '../support/daemon.ts';
import { createV2Cgroup, MIB, startAllocator } from './cgroup.ts';

/** Small enough to fill quickly under emulation (8 MiB steps took ~50 s to 128 MiB). */
const LIMIT_BYTES = 96 * MIB;
const RECORDED_WITHIN_MS = 1_000;

/** The journal's lines so far (a line being written is torn: skipped). */
function journalLines(path: string): JournalLine[] {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  return text.split('\n').flatMap((line, index) => {
    const entry = parseJournalLine(line, index + 1).unwrapOr(null);
    return entry === null ? [] : [entry];
  });
}

function journalOoms(path: string): JournalOomRecord[] {
  return journalLines(path).flatMap((line) => (line.kind === 'oom' ? [line.record] : []));
}

/** The kills the state file records now (0 while it cannot be read). */
function stateFileKills(path: string): number {
  const read = readStateFile(path);
  if (read.isErr() || read.value.kind !== 'ok') return 0;
  return (read.value.snapshot as PersistedSystem).context?.governor?.oom.kills ?? 0;
}

interface OomStatus {
  readonly oomKills: {
    readonly kills: number;
    readonly lastAtMs: number | null;
    readonly tierAtLast: number | null;
  };
}

describe('a kernel OOM kill on a real cgroup v2 kernel', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('is in status, state and journal with the tier within a second (--dry-run)', async () => {
    const cgroup = createV2Cgroup(cleanup, { maxBytes: LIMIT_BYTES });
    const allocator = await startAllocator(cleanup, cgroup);
    const dir = tempDir(cleanup);
    const stateFile = join(dir, 'state');
    const journal = join(dir, 'journal.jsonl');
    // Polls of 100-500 ms: the growth is seen before the kill (the default relaxed poll is 60 s).
    const config = writeConfig(dir, {
      relaxedPollMs: 500,
      fastPollMs: 250,
      urgentPollMs: 100,
      minPollMs: 100,
    });
    const args = ['run', '--dry-run', '--config', config, '--cgroup', cgroup.dir];
    const daemon = startMemgov(cleanup, [...args, '--state-file', stateFile, '--journal', journal]);
    await daemon.waitFor('memgov started', (r) => r.message === 'memgov started', 60_000);

    // First past compactAt (0.7 of the limit), so memgov stands above tier 0; then to the kill.
    await allocator.command(`grow ${Math.round((0.75 * LIMIT_BYTES) / MIB)} 4 20`, 'grown', 60_000);
    await daemon.waitFor(
      'a compact decided',
      (r) => r.message === 'decision' && r.action === 'compact',
      30_000,
    );
    allocator.send('grow 400 4 20');
    const [, signal] = await allocator.exited;
    const killedAtMs = Date.now();
    expect(signal).toBe('SIGKILL');
    expect(cgroup.counter('memory.events', 'oom_kill')).toBe(1);

    const seenAtMs = { journal: 0, stateFile: 0 };
    const oom = await pollUntil('the kill in the journal and the state file', 10_000, () => {
      const record = journalOoms(journal)[0];
      if (record !== undefined && seenAtMs.journal === 0) seenAtMs.journal = Date.now();
      if (stateFileKills(stateFile) >= 1 && seenAtMs.stateFile === 0) {
        seenAtMs.stateFile = Date.now();
      }
      return seenAtMs.stateFile > 0 ? record : undefined;
    });
    expect(seenAtMs.journal - killedAtMs).toBeLessThan(RECORDED_WITHIN_MS);
    expect(seenAtMs.stateFile - killedAtMs).toBeLessThan(RECORDED_WITHIN_MS);
    expect(oom).toMatchObject({ kills: 1, totalKills: 1 });
    expect(oom.tier).toBeGreaterThan(0);
    const status = (await statusJson(stateFile)) as unknown as OomStatus;
    expect(status.oomKills).toEqual({
      kills: 1,
      lastAtMs: oom.t,
      tierAtLast: oom.tier,
      counter: 1,
    });
    expect(daemon.named('kernel OOM kill')).toHaveLength(1);
    // The guest boots with psi=1: every decision in the journal carries the cgroup's PSI.
    const samples = journalLines(journal).flatMap((l) => (l.kind === 'sample' ? [l.record] : []));
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) expect(sample.pressureSomeAvg10Pct).toBeTypeOf('number');
    // memory.oom.group 1: status says a kernel OOM kill there takes memgov too.
    writeFileSync(`${cgroup.dir}/memory.oom.group`, '1');
    const grouped = runBundle([
      'status',
      '--json',
      '--state-file',
      stateFile,
      '--cgroup',
      cgroup.dir,
    ]);
    expect(grouped.stderr).toBe('');
    expect(JSON.parse(grouped.stdout)).toMatchObject({ oomGroup: true });
  });
});
