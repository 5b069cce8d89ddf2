// Puts an archived session back where it was (docs/DESIGN.md). All or nothing at the decision:
// every archived file is re-hashed and every destination checked before anything is written,
// and a single conflict refuses the whole restore. The writing itself is two-phase: each file is
// copied (re-hashed as it goes) to a temp file beside its destination, and only when all are
// staged are they renamed into place, so a failure while staging leaves the destinations
// untouched. What the manifest says beyond the files (which agent, how to resume it) is the
// caller's to read.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { CHUNK_BYTES, pumpHashed, type Hashed } from './copy.ts';
import type { VerifyError } from './errors.ts';
import { readManifest, type Manifest } from './manifest.ts';
import {
  READ_FLAGS,
  failure,
  planFile,
  type Conflict,
  type PlannedFile,
  type RestoreFailure,
} from './plan.ts';
import { verifyFiles } from './verify.ts';
import { directoriesDownTo } from '../../lib/path.ts';

export interface RestoreOptions {
  /** The archive's directory (the one holding manifest.json), absolute. */
  readonly archive: string;
  /** Overwrite files changed after the archive was made (symlinks are refused all the same). */
  readonly force: boolean;
  /** Check everything, write nothing. */
  readonly dryRun: boolean;
  /** Archived files kept out of the restore (they stay in the archive, for the record). */
  readonly leaveOut?: (path: string, manifest: Manifest) => boolean;
}

/** What the restore decided: the manifest read once, each file's action, what was left out. */
export interface RestorePlan {
  readonly manifest: Manifest;
  /** In manifest order; on a failure while checking, the files checked until then. */
  readonly files: readonly PlannedFile[];
  readonly leftOut: readonly string[];
}

export interface Restored extends RestorePlan {
  /** Files written (0 on a dry run); identical ones are left alone and not counted. */
  readonly restored: number;
}

/** Why nothing (or, for `write`, not everything) was restored. */
export type RestoreError =
  | { readonly kind: 'verify'; readonly error: VerifyError }
  | { readonly kind: 'check'; readonly failure: RestoreFailure; readonly plan: RestorePlan }
  | {
      readonly kind: 'conflict';
      readonly conflicts: readonly Conflict[];
      readonly plan: RestorePlan;
    }
  | {
      readonly kind: 'write';
      readonly failure: RestoreFailure;
      /** Files already renamed into place when it failed. */
      readonly restored: number;
      readonly plan: RestorePlan;
    };

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const STAGE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Every directory from `first` (the first one mkdir created) down to `dir`, shallowest first. */
function createdChain(first: string | undefined, dir: string): string[] {
  return first === undefined ? [] : directoriesDownTo(first, dir);
}

/** Opens the archived copy and a new temp file (0600) beside the destination. */
async function openPair(
  file: PlannedFile,
  temp: string,
): Promise<Result<{ source: FileHandle; sink: FileHandle }, RestoreFailure>> {
  let source: FileHandle;
  try {
    source = await open(file.archived, READ_FLAGS);
  } catch (error) {
    return err(failure(file.archived, error));
  }
  try {
    return ok({ source, sink: await open(temp, STAGE_FLAGS, FILE_MODE) });
  } catch (error) {
    await source.close().catch(() => undefined);
    return err(failure(temp, error));
  }
}

/** Copies the archived copy into `temp` through sha256; the copy's hash or the first problem. */
async function copyInto(
  file: PlannedFile,
  temp: string,
  buffer: Buffer,
): Promise<Result<Hashed, RestoreFailure>> {
  const opened = await openPair(file, temp);
  if (opened.isErr()) return err(opened.error);
  const { source, sink } = opened.value;
  const pumped = await pumpHashed(source, buffer, sink);
  // The mode asked of open() passes through the umask; the restored file must be 0600 exactly.
  const chmodFailure = pumped.isOk() ? await settle(temp, sink.chmod(FILE_MODE)) : null;
  await source.close().catch(() => undefined);
  const closeFailure = await settle(temp, sink.close());
  if (pumped.isErr()) {
    // Without a stop, only the read (of the archive) or the write (of the temp file) can fail.
    const problem = pumped.error;
    const path = problem.kind === 'read' ? file.archived : temp;
    return err(failure(path, 'error' in problem ? problem.error : problem));
  }
  const problem = chmodFailure ?? closeFailure;
  return problem === null ? ok(pumped.value) : err(problem);
}

/** Awaits `work`; its failure, naming `path`, or null. */
async function settle(path: string, work: Promise<void>): Promise<RestoreFailure | null> {
  return work.then(
    () => null,
    (error: unknown) => failure(path, error),
  );
}

/** The copy's problem, or null when it holds exactly what the manifest says. */
async function copyChecked(file: PlannedFile, temp: string, buffer: Buffer) {
  const copied = await copyInto(file, temp, buffer);
  if (copied.isErr()) return copied.error;
  const { size, sha256 } = copied.value;
  if (size === file.size && sha256 === file.sha256) return null;
  const detail = `changed after verification: ${size} bytes, sha256 ${sha256}; manifest says ${file.size} bytes, ${file.sha256}`;
  return { path: file.archived, detail };
}

/**
 * Copies the archived file to a new temp file (0600) beside its destination, re-hashing it: the
 * archive may have changed since it was verified. Returns the temp path.
 */
async function stage(
  file: PlannedFile,
  buffer: Buffer,
  createdDirs: string[],
): Promise<Result<string, RestoreFailure>> {
  const parent = dirname(file.path);
  try {
    const first = await mkdir(parent, { recursive: true, mode: DIR_MODE });
    createdDirs.push(...createdChain(first, parent));
  } catch (error) {
    return err(failure(parent, error));
  }
  const temp = join(parent, `.memgov-restore-${randomBytes(6).toString('hex')}`);
  const problem = await copyChecked(file, temp, buffer);
  if (problem === null) return ok(temp);
  await rm(temp, { force: true }).catch(() => undefined);
  return err(problem);
}

/** Removes staged temp files and the directories staging created (only if still empty). */
async function unstage(temps: readonly string[], createdDirs: readonly string[]): Promise<void> {
  for (const temp of temps) await rm(temp, { force: true }).catch(() => undefined);
  const deepestFirst = [...new Set(createdDirs)].sort((a, b) => b.length - a.length);
  for (const dir of deepestFirst) await rmdir(dir).catch(() => undefined);
}

/** Stages every file, then renames them into place. Returns how many were renamed. */
async function writeAll(
  planned: readonly PlannedFile[],
): Promise<Result<number, { failure: RestoreFailure; restored: number }>> {
  const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  const toWrite = planned.filter((f) => f.action !== 'identical');
  const temps: string[] = [];
  const createdDirs: string[] = [];
  for (const file of toWrite) {
    const staged = await stage(file, buffer, createdDirs);
    if (staged.isErr()) {
      await unstage(temps, createdDirs);
      return err({ failure: staged.error, restored: 0 });
    }
    temps.push(staged.value);
  }
  for (let i = 0; i < toWrite.length; i++) {
    const file = toWrite[i] as PlannedFile;
    try {
      // rename() replaces a symlink that appeared since the check; it never writes through one.
      await rename(temps[i] as string, file.path);
    } catch (error) {
      await unstage(temps.slice(i), []);
      return err({ failure: failure(file.path, error), restored: i });
    }
  }
  return ok(toWrite.length);
}

/** Plans every file that is not left out; conflicts are all collected, the first failure stops. */
async function planAll(
  archive: string,
  manifest: Manifest,
  options: RestoreOptions,
): Promise<Result<RestorePlan, RestoreError>> {
  const leftOut = (path: string): boolean => options.leaveOut?.(path, manifest) === true;
  const files: PlannedFile[] = [];
  const plan: RestorePlan = {
    manifest,
    files,
    leftOut: manifest.files.filter((f) => leftOut(f.path)).map((f) => f.path),
  };
  const conflicts: Conflict[] = [];
  const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  for (const file of manifest.files.filter((f) => !leftOut(f.path))) {
    const decided = await planFile(archive, manifest, file, options.force, buffer);
    if (decided.isErr()) return err({ kind: 'check', failure: decided.error, plan });
    const value = decided.value;
    if (!('why' in value)) files.push(value);
    else if (!conflicts.some((c) => c.path === value.path)) conflicts.push(value);
  }
  return conflicts.length > 0 ? err({ kind: 'conflict', conflicts, plan }) : ok(plan);
}

/**
 * Verifies the archive, plans every file and, unless this is a dry run, writes them back. The
 * manifest is read once: what is verified is what is restored.
 */
export async function restoreArchive(
  options: RestoreOptions,
): Promise<Result<Restored, RestoreError>> {
  const manifest = await readManifest(options.archive);
  if (manifest.isErr()) return err({ kind: 'verify', error: manifest.error });
  const verified = await verifyFiles(options.archive, manifest.value);
  if (verified.isErr()) return err({ kind: 'verify', error: verified.error });
  const planned = await planAll(options.archive, manifest.value, options);
  if (planned.isErr()) return err(planned.error);
  const plan = planned.value;
  if (options.dryRun) return ok({ ...plan, restored: 0 });
  const written = await writeAll(plan.files);
  return written.isErr()
    ? err({ kind: 'write', ...written.error, plan })
    : ok({ ...plan, restored: written.value });
}
