// The one streaming loop of the archive: a file is read through sha256 in chunks of the caller's
// buffer, never whole, and optionally written on to a sink. Archiving, verifying and restoring
// all pass through it. Measured on this project's VM (2 vCPUs, Node 20.20), one reused 1 MiB
// buffer costs +4..11 MiB of RSS on a 200 MiB file, where a stream pipeline cost +22..40 MiB
// (see write.ts).
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { err, ok, type Result } from 'neverthrow';

export const CHUNK_BYTES = 1 << 20;

export interface Hashed {
  readonly size: number;
  readonly sha256: string;
}

/** Why a pump stopped before the end: `stop` said so, or the read or the write failed. */
export type PumpFailure =
  | { readonly kind: 'stopped' }
  | { readonly kind: 'read'; readonly error: unknown }
  | { readonly kind: 'write'; readonly error: unknown };

/**
 * Reads `source` from its position to the end through sha256, writing each chunk whole to `sink`
 * when there is one. `stop` is asked before each chunk (a deadline). Closes nothing.
 */
export async function pumpHashed(
  source: FileHandle,
  buffer: Buffer,
  sink: FileHandle | null = null,
  stop: () => boolean = () => false,
): Promise<Result<Hashed, PumpFailure>> {
  const hash = createHash('sha256');
  let size = 0;
  for (;;) {
    if (stop()) return err({ kind: 'stopped' });
    let bytesRead: number;
    try {
      ({ bytesRead } = await source.read(buffer, 0, buffer.length, null));
    } catch (error) {
      return err({ kind: 'read', error });
    }
    if (bytesRead === 0) return ok({ size, sha256: hash.digest('hex') });
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    if (sink !== null) {
      const written = await writeWhole(sink, chunk);
      if (written.isErr()) return err({ kind: 'write', error: written.error });
    }
    size += bytesRead;
  }
}

async function writeWhole(sink: FileHandle, chunk: Buffer): Promise<Result<void, unknown>> {
  try {
    for (let offset = 0; offset < chunk.length;) {
      offset += (await sink.write(chunk, offset, chunk.length - offset)).bytesWritten;
    }
    return ok(undefined);
  } catch (error) {
    return err(error);
  }
}

/** Streams an open file through sha256 in the caller's buffer (never the whole file at once). */
export async function hashOpenFile(
  handle: FileHandle,
  buffer: Buffer,
): Promise<Result<Hashed, unknown>> {
  // Without a sink or a stop, only the read can fail.
  return (await pumpHashed(handle, buffer)).mapErr((failure) =>
    'error' in failure ? failure.error : failure,
  );
}
