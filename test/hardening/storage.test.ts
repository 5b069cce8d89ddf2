// Full and read-only storage (issue 6, point 2): the state file, journal and archives on a tiny
// tmpfs of our own (mounted per test, unmounted after it, pass or fail), with the daemon running
// in this process over a fixture cgroup. Acting matters more than recording: a compact is still
// dispatched and a tier-3 SIGTERM still sent when nothing can be written; the error names the
// errno (ENOSPC, EROFS) and the path; the previous state file stays whole; and the first durable
// change after space returns is written.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasExited } from '../../adapters/proc.ts';
import { readStateFile } from '../../adapters/state-file.ts';
import {
  checkStateFile,
  readMarkers,
  Scene,
  type InProcessDaemon,
} from '../../bench/crash-consistency.support.ts';
import { pollUntil } from '../support/daemon.ts';

/** Whether this process may mount a tmpfs (root, with CAP_SYS_ADMIN); else why not. */
function mountProblem(): string {
  const probe = mkdtempSync(join(tmpdir(), 'memgov-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'memgov-probe', probe], {
      stdio: 'ignore',
    });
    execFileSync('umount', [probe]);
    return '';
  } catch (error) {
    return `cannot mount a tmpfs here: ${String(error).split('\n')[0] ?? ''}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const skipReason = mountProblem();
const title =
  skipReason === ''
    ? 'state, journal and archives on a tiny tmpfs'
    : `state, journal and archives on a tiny tmpfs (skipped: ${skipReason})`;

describe.skipIf(skipReason !== '')(title, () => {
  let scene: Scene;
  let work: string;
  let mounts: string[];

  beforeEach(() => {
    scene = new Scene('memgov-storage-');
    work = scene.work;
    mounts = [];
  });

  afterEach(() =>
    scene.cleanup(() => {
      for (const dir of mounts) {
        try {
          execFileSync('umount', [dir]);
        } catch {
          // Busy after a failure: detach it now; the kernel frees it when its last user goes.
          execFileSync('umount', ['-l', dir]);
        }
      }
    }),
  );

  /** A fresh tmpfs of `size` (mount's syntax: 128k) at work/<name>. */
  function tmpfs(name: string, size: string): string {
    const dir = join(work, name);
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, `memgov-${name}`, dir]);
    mounts.push(dir);
    return dir;
  }

  function remount(dir: string, mode: 'ro' | 'rw'): void {
    execFileSync('mount', ['-o', `remount,${mode}`, dir]);
  }

  /** Writes 4 KiB blocks until the filesystem refuses one; returns the filler's path. */
  function fill(dir: string): string {
    const path = join(dir, 'filler');
    const fd = openSync(path, 'w');
    const block = Buffer.alloc(4096, 1);
    try {
      for (;;) writeSync(fd, block);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    return path;
  }

  function actionsOnDisk(stateFile: string): string[] {
    return checkStateFile(stateFile).actions.map((a) => a.action);
  }

  /** Compact while `storage` is broken, check the state file held, repair, then clear. */
  async function governThroughOutage(
    stateDir: string,
    breakIt: () => void,
    repair: () => void,
    errno: RegExp,
    daemonSettings: Readonly<Record<string, unknown>> = {},
  ): Promise<InProcessDaemon> {
    const stateFile = join(stateDir, 'mem_governor_state');
    const daemon = scene.govern({ stateFile, agent: scene.commandAgent(), ...daemonSettings });
    await pollUntil('the first state file', 10_000, () =>
      checkStateFile(stateFile).kind === 'ok' ? true : undefined,
    );
    breakIt();
    const before = readFileSync(stateFile);
    scene.setRatio(0.75);
    await scene.ran('compact');
    const refused = await daemon.first('state file not written');
    expect(refused.detail).toMatch(new RegExp(`^${stateFile}: .*${errno.source}`));
    // The previous state file is whole and readable; no temp file is left beside it.
    expect(readFileSync(stateFile).equals(before)).toBe(true);
    expect(readStateFile(stateFile)._unsafeUnwrap().kind).toBe('ok');
    expect(readdirSync(stateDir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(actionsOnDisk(stateFile)).toEqual([]);

    repair();
    scene.setRatio(0.87);
    await pollUntil(
      'the compact and the clear on disk',
      10_000,
      () => (actionsOnDisk(stateFile).join() === 'compact,clear' ? true : undefined),
      () => JSON.stringify(daemon.log.records.slice(-5)),
    );
    // Written to the state file before the executor hears of it: the command runs just after.
    await scene.ran('clear');
    expect(
      readMarkers(scene.markers)
        .map((m) => m.action)
        .sort(),
    ).toEqual(['clear', 'compact']);
    return daemon;
  }

  it('a full disk: the compact is dispatched, ENOSPC is named, the old state holds, and it is written once space returns', async () => {
    const disk = tmpfs('full', '128k');
    let filler = '';
    const daemon = await governThroughOutage(
      join(disk, 'state'),
      () => (filler = fill(disk)),
      () => rmSync(filler),
      /ENOSPC: no space left on device/,
    );
    expect(await daemon.stop()).toBe(0);
  });

  it('a read-only directory: the compact is dispatched, EROFS is named, the old state holds, and it is written once writable', async () => {
    const disk = tmpfs('ro', '128k');
    // The journal keeps a file open for writing, which would make the remount busy: it lives
    // elsewhere here (the next test puts it on a read-only mount from the start).
    const daemon = await governThroughOutage(
      join(disk, 'state'),
      () => remount(disk, 'ro'),
      () => remount(disk, 'rw'),
      /EROFS: read-only file system/,
      { journal: { path: join(work, 'journal.jsonl') } },
    );
    expect(await daemon.stop()).toBe(0);
  });

  it('a journal on a read-only mount: governing goes on, the error names the journal', async () => {
    const disk = tmpfs('ro-journal', '64k');
    mkdirSync(join(disk, 'log'));
    remount(disk, 'ro');
    const stateFile = join(work, 'state', 'mem_governor_state');
    const journal = join(disk, 'log', 'journal.jsonl');
    const daemon = scene.govern({
      stateFile,
      agent: scene.commandAgent(),
      journal: { path: journal },
    });
    scene.setRatio(0.75);
    await scene.ran('compact');
    await pollUntil('the compact on disk', 10_000, () =>
      actionsOnDisk(stateFile).includes('compact') ? true : undefined,
    );
    const mentions = daemon.log.records.filter(
      (r) => r.level !== 'debug' && JSON.stringify(r.fields).includes(journal),
    );
    expect(mentions.length).toBeGreaterThan(0);
    expect(JSON.stringify(mentions[0]?.fields)).toContain('EROFS');
    expect(existsSync(journal)).toBe(false);
    expect(await daemon.stop()).toBe(0);
  });

  it('a state directory read-only from the start: the shared-memory lock guards, memgov governs, EROFS named', async () => {
    const disk = tmpfs('ro-start', '64k');
    mkdirSync(join(disk, 'state'));
    remount(disk, 'ro');
    const stateFile = join(disk, 'state', 'mem_governor_state');
    const daemon = scene.govern({ stateFile, agent: scene.commandAgent() });
    expect(
      await daemon.first(
        'no lock beside the state file; a lock in shared memory keeps this the only memgov',
      ),
    ).toEqual({ detail: `${stateFile}.lock: cannot create: EROFS: read-only file system` });
    // Acting matters more than recording: the compact runs though nothing can be written.
    scene.setRatio(0.75);
    await scene.ran('compact');
    expect(String((await daemon.first('state file not written')).detail)).toContain('EROFS');
    const second = scene.govern({ stateFile, agent: scene.commandAgent() });
    expect(await second.done).toBe(0);
    expect(await daemon.stop()).toBe(0);
  });

  it('an archive that does not fit: no half archive, no temp dir left, and tier 3 still SIGTERMs the agent', async () => {
    const disk = tmpfs('archive', '256k');
    const archiveDir = join(disk, 'archive');
    const session = join(work, 'session');
    mkdirSync(session);
    writeFileSync(join(session, 'transcript.jsonl'), Buffer.alloc(64 * 1024, 'a'));
    writeFileSync(join(session, 'tool-output.bin'), Buffer.alloc(512 * 1024, 'b'));
    const agent = scene.startAgent();
    const daemon = scene.govern({
      stateFile: join(work, 'state', 'mem_governor_state'),
      agent: { ...scene.commandAgent(), pid: agent.pid, terminateGraceMs: 3_000 },
      archive: { dir: archiveDir, paths: [session] },
    });
    const tier3 = await scene.climbToTier3(daemon);
    expect(tier3.outcome).toBe('ok');
    expect(tier3.detail).toMatch(/^archive failed: .*ENOSPC: no space left on device; SIGTERM/);
    expect(hasExited(agent)).toBe(true);
    const failures = daemon.named('archive failed');
    expect(failures.map((f) => f.reason)).toEqual(['checkpoint', 'tier3']);
    // Nothing under the archive root: no final name, no .tmp-* left to fill the disk.
    expect(readdirSync(archiveDir)).toEqual([]);
    expect(await daemon.stop()).toBe(0);
  }, 30_000);
});
