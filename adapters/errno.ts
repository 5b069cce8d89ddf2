// Node's fs and process errors, reduced to what memgov reports: the errno code to branch on,
// a one-line summary for messages that name the path themselves, the clean-up calls whose
// failure must never escape a failure path, and the synchronous wait their retries use.
import { closeSync, unlinkSync } from 'node:fs';
import { errorMessage } from '../lib/errors.ts';

export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Node's message up to the path it repeats, on one line: `EACCES: permission denied`. */
export function errnoSummary(error: unknown): string {
  const message = errorMessage(error);
  return (message.split(', ')[0] ?? message).replace(/\s+/g, ' ');
}

/** Closes a descriptor on a failure path: the kernel releases it even when close reports an error. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing to do: the descriptor is gone either way.
  }
}

/** Removes a file on a clean-up path; already gone (or never created) is fine. */
export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Best effort by design.
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks the thread for `ms` (Atomics.wait is the one synchronous sleep): for retries inside
 * synchronous code (a busy cgroup being removed, a lock takeover, a full pipe).
 */
export function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}
