// `memgov start --detach` (the Kubernetes postStart wiring): returns at once with the daemon left
// running in the background, and a second start next to a running daemon leaves exactly one.
// The daemon observes a temp copy of a v1 cgroup fixture, so this needs no cgroup of its own.
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identify, signalVerified, type ProcessIdentity } from '../../adapters/proc.ts';
import { runBundle } from '../support/cli.ts';
import { Cleanup, isGone, pollUntil, tempDir } from '../support/daemon.ts';

const FIXTURE = new URL('../fixtures/cgroup/v1-limited', import.meta.url).pathname;

interface LogLine {
  readonly message: string;
  readonly [field: string]: unknown;
}

function logLines(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

function lockOwner(lockPath: string): number | undefined {
  try {
    const { pid } = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: unknown };
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid `memgov start` printed: "memgov started in the background (pid N), logging to L". */
function printedPid(stdout: string): number {
  const match = /\(pid (\d+)\)/.exec(stdout);
  if (match?.[1] === undefined) throw new Error(`no pid in ${JSON.stringify(stdout)}`);
  return Number(match[1]);
}

describe('memgov start --detach', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /** Stops a detached daemon (not our child): SIGTERM, then SIGKILL after a deadline. */
  function stopLater(identity: ProcessIdentity): void {
    cleanup.add(async () => {
      if (isGone(identity.pid)) return;
      signalVerified(identity, 'SIGTERM', { group: false });
      try {
        await pollUntil(`daemon ${identity.pid} to exit`, 8_000, () =>
          isGone(identity.pid) ? true : undefined,
        );
      } catch {
        signalVerified(identity, 'SIGKILL', { group: false });
        await pollUntil(`daemon ${identity.pid} to die`, 5_000, () =>
          isGone(identity.pid) ? true : undefined,
        );
      }
    });
  }

  /** Runs `memgov start --detach`, times it, and registers the stop of what it started. */
  function start(args: readonly string[]): {
    code: number;
    stdout: string;
    tookMs: number;
    pid: number;
  } {
    const startedAtMs = Date.now();
    const run = runBundle(['start', '--detach', ...args]);
    const tookMs = Date.now() - startedAtMs;
    const pid = printedPid(run.stdout);
    const identity = identify(pid);
    if (identity.isOk()) stopLater(identity.value);
    expect(run.stderr).toBe('');
    return { code: run.code, stdout: run.stdout, tookMs, pid };
  }

  it('returns at once with one daemon running; a second start leaves exactly one', async () => {
    const dir = tempDir(cleanup);
    const cgroup = join(dir, 'cgroup');
    cpSync(FIXTURE, cgroup, { recursive: true });
    const stateFile = join(dir, 'state', 'mem_governor_state');
    const lockPath = `${stateFile}.lock`;
    const logFile = join(dir, 'log', 'memgov.log');
    const args = ['--state-file', stateFile, '--cgroup', cgroup, '--log-file', logFile];

    const first = start(args);
    expect(first.code).toBe(0);
    expect(first.tookMs).toBeLessThan(1_500);
    expect(first.stdout).toContain(`logging to ${logFile}`);
    await pollUntil(
      'the detached daemon to take the lock and log its start',
      10_000,
      () =>
        lockOwner(lockPath) === first.pid &&
        logLines(logFile).some((l) => l.message === 'memgov started')
          ? true
          : undefined,
      () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : 'no log file'),
    );
    expect(isGone(first.pid)).toBe(false);

    // A second start sees the running daemon and starts nothing.
    const second = runBundle(['start', '--detach', ...args]);
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
    expect(second.stdout).toBe(`memgov already governs here (pid ${first.pid}); nothing started\n`);
    expect(logLines(logFile).filter((l) => l.message === 'memgov started')).toHaveLength(1);
    expect(isGone(first.pid)).toBe(false);
    expect(lockOwner(lockPath)).toBe(first.pid);

    // Stopped like a pod's preStop would: SIGTERM, a clean exit, the lock released.
    const identity = identify(first.pid)._unsafeUnwrap();
    expect(signalVerified(identity, 'SIGTERM', { group: false }).isOk()).toBe(true);
    await pollUntil('the daemon to stop', 8_000, () => (isGone(first.pid) ? true : undefined));
    expect(existsSync(lockPath)).toBe(false);
    expect(logLines(logFile).at(-1)).toMatchObject({ message: 'stopping', signal: 'SIGTERM' });
  }, 40_000);
});
