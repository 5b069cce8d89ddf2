// The shared in-process fixture daemon (test/support/fixture-daemon.ts), stopped by the test's
// Cleanup even when the test fails, with the process environment as the daemon's (the inspector
// redacts what it finds there).
import { cpSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempDir, type Cleanup } from '../support/daemon.ts';
import {
  FIXTURE_LIMIT_BYTES,
  startFixtureDaemon,
  type FixtureDaemon,
} from '../support/fixture-daemon.ts';

export const LIMIT_BYTES = FIXTURE_LIMIT_BYTES;
const FIXTURE = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;
export type { FixtureDaemon };

/** A shell-free argv that sets the fixture's usage to `ratio`: a compact that frees memory. */
export function shrinkArgv(work: string, ratio: number): string[] {
  const usage = join(work, 'cgroup', 'memory.usage_in_bytes');
  const text = `${Math.round(ratio * LIMIT_BYTES)}\\n`;
  return [
    process.execPath,
    '-e',
    `require('fs').writeFileSync(${JSON.stringify(usage)}, '${text}')`,
  ];
}

/** Starts the daemon at `ratio` with the daemon settings `settings(work)` returns. */
export function startDaemon(
  cleanup: Cleanup,
  ratio: number,
  settings: (work: string) => Readonly<Record<string, unknown>> = () => ({}),
): FixtureDaemon {
  const daemon = startFixtureDaemon({ initialRatio: ratio, env: process.env, prepare: settings });
  cleanup.add(async () => void (await daemon.stop()));
  return daemon;
}

/** How many decisions the daemon has logged so far. */
export function decisionCount(daemon: FixtureDaemon): number {
  return daemon.named('decision').length;
}

/**
 * A copy of the fixture cgroup at `ratio` and a state file path, for memgov as a child process;
 * `run` is `memgov run` over them.
 */
export function fixtureCgroup(
  cleanup: Cleanup,
  ratio: number,
): { dir: string; cgroup: string; stateFile: string; run: string[] } {
  const dir = tempDir(cleanup, 'memgov-obs-');
  const cgroup = join(dir, 'cgroup');
  cpSync(FIXTURE, cgroup, { recursive: true });
  writeFileSync(join(cgroup, 'memory.usage_in_bytes'), `${Math.round(ratio * LIMIT_BYTES)}\n`);
  const stateFile = join(dir, 'state');
  return { dir, cgroup, stateFile, run: ['run', '--cgroup', cgroup, '--state-file', stateFile] };
}

/** A loopback port some other server holds until cleanup. */
export async function takenPort(cleanup: Cleanup): Promise<number> {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  cleanup.add(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  return (taken.address() as AddressInfo).port;
}
