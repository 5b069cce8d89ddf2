// The decision half of a restore: for every archived file, what putting it back means (create,
// overwrite, leave an identical file alone) or why it must not be written (a conflict). Reads
// only; nothing here writes.
import { constants, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { errnoCode, errnoSummary } from '../errno.ts';
import { hashOpenFile, type Hashed } from './copy.ts';
import {
  archivedCopyPath,
  isSafeArchivedPath,
  type Manifest,
  type ManifestFile,
} from './manifest.ts';
import { directoriesDownTo, isWithin } from '../../lib/path.ts';

export type RestoreAction = 'create' | 'overwrite' | 'identical';

export interface PlannedFile extends ManifestFile {
  /** The archived copy: `<archive>/files/<path>`. */
  readonly archived: string;
  readonly action: RestoreAction;
}

/** newer: changed after the archive; symlink / not-a-file / not-a-directory: never written through. */
export type ConflictWhy = 'newer' | 'symlink' | 'not-a-file' | 'not-a-directory';

export interface Conflict {
  readonly path: string;
  readonly why: ConflictWhy;
  readonly detail: string;
}

/** A failure that stops the restore; `path` is the file it concerns. */
export interface RestoreFailure {
  readonly path: string;
  readonly detail: string;
}

/** The open flags for every file restore reads: never through a link, never hanging on a FIFO. */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export function failure(path: string, error: unknown): RestoreFailure {
  return { path, detail: errnoSummary(error) };
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

/** Streams a file (opened without following a symlink) through sha256. */
async function hashFile(path: string, buffer: Buffer): Promise<Result<Hashed, RestoreFailure>> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    return err(failure(path, error));
  }
  const hashed = await hashOpenFile(handle, buffer);
  await handle.close().catch(() => undefined);
  return hashed.mapErr((error) => failure(path, error));
}

/**
 * The directories from the archived source holding `path` down to `path`'s parent: the archive
 * walked them as real directories, so a symlink there now is refused (the source itself
 * included: a destination swapped for a symlink is the attack this guards against). Above the
 * source (the user's own layout, e.g. a symlinked home or `.claude` on a volume) symlinks are
 * followed.
 */
function ownedParents(path: string, sources: readonly string[]): string[] {
  const owner = sources
    .filter((s) => isSafeArchivedPath(s) && isWithin(path, s))
    .sort((a, b) => b.length - a.length)[0];
  return owner === undefined || owner === path ? [] : directoriesDownTo(owner, dirname(path));
}

async function lstatOrNull(path: string): Promise<Result<Stats | null, RestoreFailure>> {
  try {
    return ok(await lstat(path));
  } catch (error) {
    const code = errnoCode(error);
    return code === 'ENOENT' || code === 'ENOTDIR' ? ok(null) : err(failure(path, error));
  }
}

/** The first directory above `path` that the archive walked and that is no directory now. */
async function parentConflict(
  path: string,
  sources: readonly string[],
): Promise<Result<Conflict | null, RestoreFailure>> {
  for (const parent of ownedParents(path, sources)) {
    const found = await lstatOrNull(parent);
    if (found.isErr()) return err(found.error);
    if (found.value === null) break;
    if (found.value.isSymbolicLink()) {
      const detail = 'a symlink where the archive had a directory';
      return ok({ path: parent, why: 'symlink', detail });
    }
    if (!found.value.isDirectory()) {
      return ok({ path: parent, why: 'not-a-directory', detail: 'not a directory' });
    }
  }
  return ok(null);
}

/** What an existing regular file at the destination means: identical, newer, or overwritten. */
async function existingFile(
  file: ManifestFile,
  existing: Stats,
  createdAtMs: number,
  force: boolean,
  buffer: Buffer,
): Promise<Result<RestoreAction | Conflict, RestoreFailure>> {
  if (existing.size === file.size) {
    const hashed = await hashFile(file.path, buffer);
    if (hashed.isErr()) return err(hashed.error);
    if (hashed.value.sha256 === file.sha256) return ok('identical');
  }
  if (existing.mtimeMs > createdAtMs && !force) {
    const detail = `modified ${iso(existing.mtimeMs)}, after the archive was made (${iso(createdAtMs)})`;
    return ok({ path: file.path, why: 'newer', detail });
  }
  return ok('overwrite');
}

/** Decides what restoring `file` from the archive `dir` means; a conflict when it must not be. */
export async function planFile(
  dir: string,
  manifest: Manifest,
  file: ManifestFile,
  force: boolean,
  buffer: Buffer,
): Promise<Result<PlannedFile | Conflict, RestoreFailure>> {
  const above = await parentConflict(file.path, manifest.sources);
  if (above.isErr()) return err(above.error);
  if (above.value !== null) return ok(above.value);
  const found = await lstatOrNull(file.path);
  if (found.isErr()) return err(found.error);
  const existing = found.value;
  const archived = archivedCopyPath(dir, file.path);
  if (existing === null) return ok({ ...file, archived, action: 'create' });
  if (existing.isSymbolicLink()) {
    const detail = 'a symlink; restore never writes through one';
    return ok({ path: file.path, why: 'symlink', detail });
  }
  if (!existing.isFile()) {
    return ok({ path: file.path, why: 'not-a-file', detail: 'exists and is not a regular file' });
  }
  const decided = await existingFile(file, existing, manifest.createdAtMs, force, buffer);
  if (decided.isErr()) return err(decided.error);
  const action = decided.value;
  return typeof action === 'string' ? ok({ ...file, archived, action }) : ok(action);
}
