// Crash consistency at length (issue 6, point 1): `npm run bench:crash` (or
// `node --import tsx bench/crash-consistency.ts [--rounds N] [--seed S]`). Each round SIGKILLs a
// real `memgov run` at a seeded random moment and checks what the restart finds; see
// crash-consistency.support.ts. Prints every round, the totals, and exits 1 on any violation.
// The seed is printed first: `--seed S` replays the same delays.
import {
  buildLine,
  bundlePath,
  busyness,
  installCleanup,
  machineLine,
  removeScratchDir,
  scratchDir,
} from './support.ts';
import { runCrashRounds } from './crash-consistency.support.ts';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { companionLockPath } from '../adapters/lock.ts';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`--${name} must be a whole number (got ${process.argv[at + 1] ?? 'nothing'})`);
    process.exit(2);
  }
  return value;
}

const rounds = flag('rounds', 200);
const seed = flag('seed', Math.floor(Math.random() * 2 ** 31));
console.log(`crash consistency: ${rounds} rounds, seed ${seed} (replay: --seed ${seed})`);
console.log(buildLine());
console.log(machineLine());
console.log(`before: ${busyness()}`);
installCleanup();
const workDir = scratchDir('crash');
const startedMs = Date.now();
try {
  const result = await runCrashRounds({
    rounds,
    seed,
    bundle: bundlePath,
    workDir,
    onRound: (line) => console.log(line),
  });
  const seconds = ((Date.now() - startedMs) / 1000).toFixed(0);
  console.log(`\ntotals after ${rounds} kills (${seconds} s):`);
  console.log(JSON.stringify(result.totals, null, 2));
  console.log(`after: ${busyness()}`);
  if (result.violations.length === 0) console.log('violations: none');
  else {
    console.log(`violations: ${result.violations.length}`);
    for (const v of result.violations) console.log(`  round ${v.round}: ${v.what}`);
    process.exitCode = 1;
  }
} finally {
  removeScratchDir(workDir);
  // The last memgov was killed with SIGKILL: its companion lock in /dev/shm names a dead owner.
  rmSync(companionLockPath(join(workDir, 'state', 'mem_governor_state')), { force: true });
}
