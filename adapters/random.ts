// Random hex for file names that must not be guessable in advance (the state file's temp name, a
// stale lock's aside name). Read from /dev/urandom, the kernel source node:crypto's randomBytes
// also draws from, so an idle daemon never loads node:crypto: that module alone costs +2.0 MiB of
// peak RSS on Node 20 (docs/BENCHMARKS.md, "Footprint within target"). Where /dev/urandom cannot
// be read, node:crypto gives the bytes (the bundle loads it then, on this first use).
import { closeSync, openSync, readSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

function urandom(byteCount: number): Buffer | null {
  const bytes = Buffer.alloc(byteCount);
  let fd: number | null = null;
  try {
    fd = openSync('/dev/urandom', 'r');
    return readSync(fd, bytes, 0, byteCount, null) === byteCount ? bytes : null;
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** `byteCount` random bytes as 2 x byteCount lowercase hex digits. */
export function randomHex(byteCount: number): string {
  return (urandom(byteCount) ?? randomBytes(byteCount)).toString('hex');
}
