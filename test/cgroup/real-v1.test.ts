// Reads a real cgroup v1 memory controller: a child cgroup of our own, with a 64 MiB limit and a
// Node child process that allocates inside it. Only the child cgroup this file creates is ever
// written to; it is removed after each test, pass or fail.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCgroupError } from '../../adapters/cgroup/parse.ts';
import { openCgroup, readCgroup, type CgroupReading } from '../../adapters/cgroup/reader.ts';
import { removeCgroupDir } from '../support/daemon.ts';

const MIB = 1024 * 1024;
const LIMIT_BYTES = 64 * MIB;
const POLL_INTERVAL_MS = 10;

/** Our own v1 memory cgroup if we may create children in it, else why not. */
function probeWritableV1Parent(): { dir: string } | { reason: string } {
  const own = openCgroup();
  if (own.isErr()) return { reason: formatCgroupError(own.error) };
  if (own.value.version !== 1) return { reason: `the memory cgroup ${own.value.dir} is v2` };
  try {
    accessSync(own.value.dir, constants.W_OK);
  } catch {
    return { reason: `the v1 memory cgroup ${own.value.dir} is not writable` };
  }
  return { dir: own.value.dir };
}

const probe = probeWritableV1Parent();
const parentDir = 'dir' in probe ? probe.dir : undefined;
const title =
  parentDir === undefined
    ? `real cgroup v1 (skipped: no writable v1 memory cgroup: ${'reason' in probe ? probe.reason : ''})`
    : 'real cgroup v1: a 64 MiB child cgroup of our own memory cgroup';

// Waits for a line on stdin, then allocates argv[1] MiB in 1 MiB buffers, touching every page,
// reports "ready", and stays alive until killed.
const CHILD_SCRIPT = `
const mib = Number(process.argv[1]);
process.stdin.once('data', () => {
  const kept = [];
  for (let i = 0; i < mib; i++) kept.push(Buffer.alloc(1024 * 1024).fill(0xa5));
  globalThis.kept = kept;
  process.stdout.write('ready\\n');
});
setInterval(() => {}, 1 << 30);
`;

/** Polls `probe` until it returns a value, or fails after `timeoutMs`. */
async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probeOnce: () => T | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probeOnce();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(POLL_INTERVAL_MS);
  }
}

/** Awaits `promise`, or fails after `timeoutMs`. */
async function withDeadline<T>(what: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  const timer = new AbortController();
  const timeout = delay(timeoutMs, undefined, { signal: timer.signal }).then(() => {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    timer.abort();
    timeout.catch(() => undefined);
  }
}

describe.skipIf(parentDir === undefined)(title, () => {
  let cgroupDir: string | undefined;
  let child: ChildProcess | undefined;
  let childExit: Promise<unknown> | undefined;
  let childOutput = '';

  afterEach(async () => {
    try {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await childExit;
      }
    } finally {
      if (cgroupDir !== undefined) await removeCgroupDir(cgroupDir);
      cgroupDir = undefined;
      child = undefined;
      childOutput = '';
    }
  });

  /** Creates the limited child cgroup and moves a waiting allocator process into it. */
  async function startAllocatorInCgroup(
    allocMiB: number,
  ): Promise<{ dir: string; allocator: ChildProcess; exited: Promise<unknown[]> }> {
    const dir = `${parentDir}/memgov-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    mkdirSync(dir);
    cgroupDir = dir;
    writeFileSync(`${dir}/memory.limit_in_bytes`, String(LIMIT_BYTES));
    const started = spawn(process.execPath, ['-e', CHILD_SCRIPT, String(allocMiB)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = once(started, 'exit');
    child = started;
    childExit = exited;
    started.stdout?.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
    await once(started, 'spawn');
    const pid = started.pid;
    if (pid === undefined) throw new Error('the allocator child has no pid');
    // Moved before it allocates: v1 charges pages to the cgroup of the task that faults them in.
    writeFileSync(`${dir}/cgroup.procs`, String(pid));
    return { dir, allocator: started, exited };
  }

  function readDir(dir: string): CgroupReading {
    return openCgroup({ dir }).andThen(readCgroup)._unsafeUnwrap();
  }

  it('reports the limit and a working set that rises above 20 MiB as the child allocates', async () => {
    const { dir, allocator } = await startAllocatorInCgroup(20);
    const before = readDir(dir);
    expect(before).toMatchObject({ version: 1, dir, limitBytes: LIMIT_BYTES, limitSource: 'max' });
    expect(before.workingSetBytes).toBeLessThan(20 * MIB);

    allocator.stdin?.write('go\n');
    await pollUntil('the child to allocate', 10_000, () =>
      childOutput.includes('ready') ? true : undefined,
    );
    const after = await pollUntil('a working set above 20 MiB', 5_000, () => {
      const reading = readDir(dir);
      return reading.workingSetBytes > 20 * MIB ? reading : undefined;
    });
    expect(after).toMatchObject({
      version: 1,
      dir,
      limitBytes: LIMIT_BYTES,
      limitSource: 'max',
      oomKills: 0,
    });
    expect(after.currentBytes).toBeLessThanOrEqual(LIMIT_BYTES);
    expect(after.workingSetBytes).toBe(Math.max(0, after.currentBytes - after.inactiveFileBytes));
  });

  it('counts the kill when the child allocates past the limit and the kernel OOM-kills it', async () => {
    const { dir, allocator, exited } = await startAllocatorInCgroup(256);
    expect(readDir(dir).oomKills).toBe(0);

    allocator.stdin?.write('go\n');
    const [exitCode, signal] = (await withDeadline('the OOM kill', 10_000, exited)) as [
      number | null,
      NodeJS.Signals | null,
    ];
    expect({ exitCode, signal }).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(childOutput).not.toContain('ready');
    const reading = await pollUntil('the oom_kill counter', 5_000, () => {
      const candidate = readDir(dir);
      return candidate.oomKills >= 1 ? candidate : undefined;
    });
    expect(reading).toMatchObject({ version: 1, limitBytes: LIMIT_BYTES, limitSource: 'max' });
    expect(reading.oomKills).toBeGreaterThanOrEqual(1);
  });
});
