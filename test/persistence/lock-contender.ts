// One contender in lock.test.ts's races: node --import tsx lock-contender.ts LOCK GO HOLD_MS
// Prints `ready`, waits for the GO file, tries acquireLock once and prints `acquired` or `held`.
// A winner holds the lock for HOLD_MS, prints `intact` if the lock file still holds its pid (no
// one took it meanwhile) or `lost`, then releases it.
import { existsSync, readFileSync } from 'node:fs';
import { acquireLock, formatLockError } from '../../adapters/lock.ts';

const GO_DEADLINE_MS = 20_000;
const POLL_MS = 0.5;

const [lockPath, goPath, holdMsText] = process.argv.slice(2);
if (lockPath === undefined || goPath === undefined || holdMsText === undefined) {
  console.log('usage: lock-contender.ts LOCK GO HOLD_MS');
  process.exit(2);
}

function ownsLockFile(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }).pid === process.pid;
  } catch {
    return false;
  }
}

console.log('ready');
const cell = new Int32Array(new SharedArrayBuffer(4));
const deadline = Date.now() + GO_DEADLINE_MS;
while (!existsSync(goPath)) {
  if (Date.now() > deadline) {
    console.log('no go signal');
    process.exit(2);
  }
  Atomics.wait(cell, 0, 0, POLL_MS);
}

const result = acquireLock(lockPath);
if (result.isErr()) {
  console.log(result.error.kind === 'held' ? 'held' : `error ${formatLockError(result.error)}`);
  process.exit(result.error.kind === 'held' ? 0 : 1);
}
console.log('acquired');
const handle = result.value;
setTimeout(() => {
  console.log(ownsLockFile(lockPath) ? 'intact' : 'lost');
  handle.release();
}, Number(holdMsText));
