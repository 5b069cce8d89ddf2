// `memgov status` for people: whether a memgov runs here (from the lock), the memory now against
// the thresholds apart from the ladder's tier (which is the compact window's memory, not
// severity), in MiB/GiB and relative times.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { humanBytes, relative } from '../../cli/commands/status.ts';
import { acquireInstanceLock, liveLockOwner } from '../../adapters/lock.ts';
import { writeStateFile } from '../../adapters/state-file.ts';
import { runMain } from '../support/cli.ts';

describe('status words', () => {
  it('bytes in MiB below a GiB, GiB above', () => {
    expect(humanBytes(64 * 1024 ** 2)).toBe('64.0 MiB');
    expect(humanBytes(3.5 * 1024 ** 3)).toBe('3.5 GiB');
    expect(humanBytes(null)).toBe('-');
  });

  it('times relative to now', () => {
    const now = 1_800_000_000_000;
    expect(relative(now - 3 * 60_000, now)).toBe('3 min ago');
    expect(relative(now + 12 * 60_000, now)).toBe('in 12 min');
    expect(relative(now - 10_000, now)).toBe('under a minute ago');
    expect(relative(now - 5 * 3_600_000, now)).toBe('5 h ago');
  });

  it('the lock says whether a memgov runs: its pid while held, null once released', async () => {
    const stateFile = join(mkdtempSync(join(tmpdir(), 'memgov-status-lock-')), 'state');
    const shmDir = mkdtempSync(join(tmpdir(), 'memgov-status-shm-'));
    expect(liveLockOwner(`${stateFile}.lock`)).toBeNull();
    const lock = acquireInstanceLock(stateFile, { shmDir })._unsafeUnwrap();
    try {
      expect(liveLockOwner(`${stateFile}.lock`)).toBe(process.pid);
      writeStateFile(
        stateFile,
        { status: 'active', value: {}, context: {} },
        Date.now(),
      )._unsafeUnwrap();
      const shown = await runMain(['status', '--state-file', stateFile]);
      expect(shown.stdout).toMatch(new RegExp(`^memgov {8}running \\(pid ${process.pid}\\)\\n`));
    } finally {
      lock.release();
    }
    expect(liveLockOwner(`${stateFile}.lock`)).toBeNull();
  });
});
