// Builds dist/memgov.mjs once before the suite: CLI tests run the real bundle. After the suite,
// removes the companion locks (/dev/shm/memgov-*.lock) that memgovs the tests killed with
// SIGKILL left behind: each test uses its own state path, so nothing would ever take them over.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { buildBundle } from '../../build.mjs';
import { isProcessAlive } from '../../adapters/lock.ts';

const SHM_DIR = '/dev/shm';

function removeDeadCompanionLocks(): void {
  let names: string[];
  try {
    names = readdirSync(SHM_DIR).filter((n) => /^memgov-[0-9a-f]{16}\.lock$/.test(n));
  } catch {
    return;
  }
  for (const name of names) {
    const path = `${SHM_DIR}/${name}`;
    try {
      const { pid } = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
      if (typeof pid === 'number' && !isProcessAlive(pid)) rmSync(path, { force: true });
    } catch {
      // Being written or removed by a live memgov: not ours to judge.
    }
  }
}

export default async function setup(): Promise<() => void> {
  await buildBundle();
  return removeDeadCompanionLocks;
}
