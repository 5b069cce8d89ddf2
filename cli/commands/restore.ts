// `memgov restore ARCHIVE [--force] [--json] [--dry-run]`: puts an archived session back where it
// was (SPEC section 6), then says how to resume it. All or nothing at the decision: every
// archived file is re-hashed and every destination checked before anything is written, and a
// single conflict refuses the whole restore. The writing itself is two-phase: each file is copied
// (re-hashed as it goes) to a temp file beside its destination, and only when all are staged are
// they renamed into place, so a failure while staging leaves the destinations untouched.
import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import {
  formatArchiveError,
  hashOpenFile,
  verifyArchive,
  type ManifestFile,
} from '../../adapters/archive.ts';
import { resumeFromManifest, type AgentName, type ResumeCommand } from '../../agents/index.ts';
import { errnoCode, errnoSummary } from '../../adapters/errno.ts';
import { parseArgs } from '../args.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from '../io.ts';
import { isRecord } from '../../lib/record.ts';

export const RESTORE_HELP = `Usage: memgov restore ARCHIVE [--force] [--json] [--dry-run]

Puts the files of a memgov archive (the directory holding manifest.json) back at the paths they
were archived from, then prints the command that resumes the archived session.

Every archived file is re-hashed first; a mismatch refuses the restore. A destination that is
newer than the archive is a conflict, an identical one is left alone, and a symlink is always
refused. Conflicts are all listed and nothing is copied. Restored files are mode 0600; missing
directories are created 0700.

Options:
  --force    overwrite files that changed after the archive was made
  --dry-run  check everything and report what would be restored; write nothing
  --json     print one JSON summary on stdout

Exit codes: 0 restored (or nothing to do), 1 verification failure, conflict or I/O error,
2 usage.
`;

type Action = 'create' | 'overwrite' | 'identical';

interface PlannedFile extends ManifestFile {
  /** The archived copy: `<archive>/files/<path>`. */
  readonly archived: string;
  readonly action: Action;
}

/** newer: changed after the archive; symlink / not-a-file / not-a-directory: never written through. */
type ConflictWhy = 'newer' | 'symlink' | 'not-a-file' | 'not-a-directory';

interface Conflict {
  readonly path: string;
  readonly why: ConflictWhy;
  readonly detail: string;
}

/** A failure that stops the restore; `path` is the file it concerns. */
interface Failure {
  readonly path: string;
  readonly detail: string;
}

interface RestoreManifest {
  readonly createdAtMs: number;
  readonly complete: boolean;
  readonly sources: readonly string[];
  readonly files: readonly ManifestFile[];
  /** Archived but not restored: Claude Code's sessions/<pid>.json entries (see below). */
  readonly leftOut: readonly string[];
  readonly notArchived: number;
  readonly extra: Readonly<Record<string, unknown>>;
}

interface Summary {
  readonly ok: boolean;
  readonly archive: string;
  readonly dryRun: boolean;
  readonly createdAtMs: number | null;
  readonly complete: boolean | null;
  readonly files: readonly { path: string; action: Action }[];
  /** Archived files deliberately not restored (a dead process's registry entry). */
  readonly leftOut: readonly string[];
  readonly restored: number;
  readonly identical: number;
  readonly conflicts: readonly Conflict[];
  readonly error: Failure | null;
  readonly resume: {
    readonly profile: AgentName;
    readonly cwd: string;
    readonly argv: readonly string[];
    readonly command: string;
  } | null;
}

const CHUNK_BYTES = 1 << 20;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const STAGE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function failure(path: string, error: unknown): Failure {
  return { path, detail: errnoSummary(error) };
}

function isSafePath(path: string): boolean {
  return isAbsolute(path) && normalize(path) === path && !path.includes('\0') && path !== '/';
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

/** Reads manifest.json once more after verifyArchive has checked it: the fields restore needs. */
async function readRestoreManifest(dir: string): Promise<Result<RestoreManifest, Failure>> {
  const path = join(dir, 'manifest.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    return err({ path, detail: error instanceof SyntaxError ? 'not JSON' : errnoSummary(error) });
  }
  if (!isRecord(parsed) || typeof parsed.createdAtMs !== 'number' || !Array.isArray(parsed.files)) {
    return err({ path, detail: 'not a memgov archive manifest' });
  }
  const files: ManifestFile[] = [];
  for (const file of parsed.files as unknown[]) {
    if (
      !isRecord(file) ||
      typeof file.path !== 'string' ||
      !isSafePath(file.path) ||
      typeof file.size !== 'number' ||
      typeof file.sha256 !== 'string'
    ) {
      return err({ path, detail: `unusable file entry ${JSON.stringify(file)}` });
    }
    files.push({ path: file.path, size: file.size, sha256: file.sha256 });
  }
  // sessions/<pid>.json is Claude Code's registry of running processes: the archived one names a
  // process that is gone, and the agent rewrote it on its way out (so it is always "newer" than
  // the archive). It is kept in the archive for the record, never restored.
  const configDir = typeof parsed.claudeConfigDir === 'string' ? parsed.claudeConfigDir : null;
  const isRegistryEntry = (path: string): boolean =>
    configDir !== null &&
    /^\/sessions\/\d+\.json$/.test(path.slice(configDir.length)) &&
    path.startsWith(configDir);
  const leftOut = files.filter((file) => isRegistryEntry(file.path)).map((file) => file.path);
  const sources = Array.isArray(parsed.sources)
    ? (parsed.sources as unknown[]).filter(
        (s): s is string => typeof s === 'string' && isSafePath(s),
      )
    : [];
  const skipped = Array.isArray(parsed.skipped) ? (parsed.skipped as unknown[]) : [];
  const notArchived = skipped.filter(
    (s) => isRecord(s) && (s.why === 'deadline' || s.why === 'unreadable'),
  ).length;
  return ok({
    createdAtMs: parsed.createdAtMs,
    complete: parsed.complete !== false,
    sources,
    files: files.filter((file) => !isRegistryEntry(file.path)),
    leftOut,
    notArchived,
    extra: parsed,
  });
}

/** Streams a file (opened without following a symlink) through sha256. */
async function hashFile(
  path: string,
  buffer: Buffer,
): Promise<Result<{ size: number; sha256: string }, Failure>> {
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
    .filter((s) => path === s || path.startsWith(s.endsWith('/') ? s : `${s}/`))
    .sort((a, b) => b.length - a.length)[0];
  if (owner === undefined || owner === path) return [];
  const parts = relative(owner, dirname(path))
    .split('/')
    .filter((p) => p !== '');
  return [owner, ...parts.map((_, i) => join(owner, ...parts.slice(0, i + 1)))];
}

async function lstatOrNull(path: string): Promise<Result<Stats | null, Failure>> {
  try {
    return ok(await lstat(path));
  } catch (error) {
    const code = errnoCode(error);
    return code === 'ENOENT' || code === 'ENOTDIR' ? ok(null) : err(failure(path, error));
  }
}

/** Decides what restoring `file` means; a conflict when it must not be written. */
async function planFile(
  dir: string,
  manifest: RestoreManifest,
  file: ManifestFile,
  force: boolean,
  buffer: Buffer,
): Promise<Result<PlannedFile | Conflict, Failure>> {
  const archived = join(dir, 'files', file.path.slice(1));
  for (const parent of ownedParents(file.path, manifest.sources)) {
    const found = await lstatOrNull(parent);
    if (found.isErr()) return err(found.error);
    if (found.value === null) break;
    if (found.value.isSymbolicLink()) {
      return ok({
        path: parent,
        why: 'symlink',
        detail: 'a symlink where the archive had a directory',
      });
    }
    if (!found.value.isDirectory()) {
      return ok({ path: parent, why: 'not-a-directory', detail: 'not a directory' });
    }
  }
  const found = await lstatOrNull(file.path);
  if (found.isErr()) return err(found.error);
  const existing = found.value;
  if (existing === null) return ok({ ...file, archived, action: 'create' });
  if (existing.isSymbolicLink()) {
    return ok({
      path: file.path,
      why: 'symlink',
      detail: 'a symlink; restore never writes through one',
    });
  }
  if (!existing.isFile()) {
    return ok({ path: file.path, why: 'not-a-file', detail: 'exists and is not a regular file' });
  }
  if (existing.size === file.size) {
    const hashed = await hashFile(file.path, buffer);
    if (hashed.isErr()) return err(hashed.error);
    if (hashed.value.sha256 === file.sha256) return ok({ ...file, archived, action: 'identical' });
  }
  if (existing.mtimeMs > manifest.createdAtMs && !force) {
    return ok({
      path: file.path,
      why: 'newer',
      detail: `modified ${iso(existing.mtimeMs)}, after the archive was made (${iso(manifest.createdAtMs)})`,
    });
  }
  return ok({ ...file, archived, action: 'overwrite' });
}

/** Every directory from `first` (the first one mkdir created) down to `dir`, shallowest first. */
function createdChain(first: string | undefined, dir: string): string[] {
  if (first === undefined) return [];
  const parts = relative(first, dir)
    .split('/')
    .filter((p) => p !== '');
  return [first, ...parts.map((_, i) => join(first, ...parts.slice(0, i + 1)))];
}

/**
 * Copies the archived file to a new temp file (0600) beside its destination, re-hashing it: the
 * archive may have changed since verifyArchive read it. Returns the temp path.
 */
async function stage(
  file: PlannedFile,
  buffer: Buffer,
  createdDirs: string[],
): Promise<Result<string, Failure>> {
  const parent = dirname(file.path);
  try {
    const first = await mkdir(parent, { recursive: true, mode: DIR_MODE });
    createdDirs.push(...createdChain(first, parent));
  } catch (error) {
    return err(failure(parent, error));
  }
  let source: FileHandle;
  try {
    source = await open(file.archived, READ_FLAGS);
  } catch (error) {
    return err(failure(file.archived, error));
  }
  const temp = join(parent, `.memgov-restore-${randomBytes(6).toString('hex')}`);
  let sink: FileHandle;
  try {
    sink = await open(temp, STAGE_FLAGS, FILE_MODE);
  } catch (error) {
    await source.close().catch(() => undefined);
    return err(failure(temp, error));
  }
  const hash = createHash('sha256');
  let size = 0;
  // An object, not a `let`: the callbacks below set it, and TypeScript would not see that.
  const outcome: { problem?: Failure } = {};
  try {
    for (;;) {
      const bytesRead = await source.read(buffer, 0, CHUNK_BYTES, null).then(
        (read) => read.bytesRead,
        (error: unknown) => {
          outcome.problem = failure(file.archived, error);
          return 0;
        },
      );
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      for (let offset = 0; offset < bytesRead;) {
        offset += (await sink.write(chunk, offset, bytesRead - offset)).bytesWritten;
      }
      size += bytesRead;
    }
    // The mode asked of open() passes through the umask; the restored file must be 0600 exactly.
    await sink.chmod(FILE_MODE);
  } catch (error) {
    outcome.problem ??= failure(temp, error);
  } finally {
    await source.close().catch(() => undefined);
    await sink.close().catch((error: unknown) => {
      outcome.problem ??= failure(temp, error);
    });
  }
  const sha256 = hash.digest('hex');
  let problem = outcome.problem;
  if (problem === undefined && (size !== file.size || sha256 !== file.sha256)) {
    problem = {
      path: file.archived,
      detail: `changed after verification: ${size} bytes, sha256 ${sha256}; manifest says ${file.size} bytes, ${file.sha256}`,
    };
  }
  if (problem !== undefined) {
    await rm(temp, { force: true }).catch(() => undefined);
    return err(problem);
  }
  return ok(temp);
}

/** Removes staged temp files and the directories staging created (only if still empty). */
async function unstage(temps: readonly string[], createdDirs: readonly string[]): Promise<void> {
  for (const temp of temps) await rm(temp, { force: true }).catch(() => undefined);
  const deepestFirst = [...new Set(createdDirs)].sort((a, b) => b.length - a.length);
  for (const dir of deepestFirst) await rmdir(dir).catch(() => undefined);
}

/** Stages every file, then renames them into place. Returns how many were renamed. */
async function write(
  planned: readonly PlannedFile[],
): Promise<Result<number, Failure & { restored: number }>> {
  const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  const toWrite = planned.filter((f) => f.action !== 'identical');
  const temps: string[] = [];
  const createdDirs: string[] = [];
  for (const file of toWrite) {
    const staged = await stage(file, buffer, createdDirs);
    if (staged.isErr()) {
      await unstage(temps, createdDirs);
      return err({ ...staged.error, restored: 0 });
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
      return err({ ...failure(file.path, error), restored: i });
    }
  }
  return ok(toWrite.length);
}

function summaryOf(
  archive: string,
  dryRun: boolean,
  manifest: RestoreManifest | null,
  parts: {
    planned?: readonly PlannedFile[];
    conflicts?: readonly Conflict[];
    error?: Failure | null;
    restored?: number;
  },
): Summary {
  const planned = parts.planned ?? [];
  const resume = manifest === null ? null : resumeFromManifest(manifest.extra);
  const conflicts = parts.conflicts ?? [];
  const error = parts.error ?? null;
  return {
    ok: conflicts.length === 0 && error === null,
    archive,
    dryRun,
    createdAtMs: manifest?.createdAtMs ?? null,
    complete: manifest?.complete ?? null,
    files: planned.map((f) => ({ path: f.path, action: f.action })),
    leftOut: manifest?.leftOut ?? [],
    restored: parts.restored ?? 0,
    identical: planned.filter((f) => f.action === 'identical').length,
    conflicts,
    error,
    resume:
      resume === null
        ? null
        : {
            profile: resume.profile,
            cwd: resume.command.cwd,
            argv: resume.command.argv,
            command: resume.command.display,
          },
  };
}

function resumeLines(command: ResumeCommand | null): string[] {
  return command === null ? [] : ['resume the session with:', command.display];
}

function human(summary: Summary, manifest: RestoreManifest): string {
  const verb = (action: Action): string =>
    action === 'identical'
      ? 'identical'
      : summary.dryRun
        ? `would ${action}`
        : action === 'create'
          ? 'restored'
          : 'overwrote';
  const lines = summary.files.map((f) =>
    f.action === 'identical' ? `identical  ${f.path} (left alone)` : `${verb(f.action)}  ${f.path}`,
  );
  lines.push(
    ...summary.leftOut.map((path) => `left out  ${path} (the archived process's registry entry)`),
  );
  const writes = summary.files.length - summary.identical;
  lines.push(
    summary.dryRun
      ? `dry run: would restore ${count(writes, 'file')} (${summary.identical} identical), nothing written`
      : `restored ${count(summary.restored, 'file')} from ${summary.archive} (${summary.identical} identical, left alone)`,
  );
  if (!manifest.complete) {
    lines.push(
      `note: the archive is incomplete: ${count(manifest.notArchived, 'file')} not archived (deadline or unreadable); see its manifest`,
    );
  }
  const resume = resumeFromManifest(manifest.extra);
  lines.push(...resumeLines(resume?.command ?? null));
  return `${lines.join('\n')}\n`;
}

function conflictText(conflicts: readonly Conflict[]): string {
  const width = Math.max(...conflicts.map((c) => c.why.length));
  const lines = conflicts.map((c) => `  ${c.why.padEnd(width)}  ${c.path}: ${c.detail}`);
  const newer = conflicts.some((c) => c.why === 'newer');
  return (
    `memgov restore: refused, nothing was copied: ${count(conflicts.length, 'conflict')}` +
    `${newer ? ' (--force overwrites files changed after the archive; symlinks are never followed)' : ''}\n` +
    `${lines.join('\n')}\n`
  );
}

export async function restoreCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(argv, {
    force: { kind: 'boolean' },
    json: { kind: 'boolean' },
    'dry-run': { kind: 'boolean' },
    help: { kind: 'boolean' },
  });
  if (parsed.isOk() && parsed.value.flags.help === true) {
    io.out(RESTORE_HELP);
    return EXIT_OK;
  }
  const positionals = parsed.isOk() ? [...parsed.value.positionals, ...parsed.value.rest] : [];
  if (parsed.isErr() || positionals.length !== 1) {
    const why = parsed.isErr()
      ? parsed.error
      : positionals.length === 0
        ? 'which archive? (give its directory)'
        : `one archive at a time (got ${positionals.length})`;
    io.err(`memgov restore: ${why}\n${RESTORE_HELP}`);
    return EXIT_USAGE;
  }
  const { flags } = parsed.value;
  const json = flags.json === true;
  const dryRun = flags['dry-run'] === true;
  const force = flags.force === true;
  const archive = resolve(io.cwd, positionals[0] as string);

  const fail = (summary: Summary, message: string): number => {
    io.err(message);
    if (json) io.out(`${JSON.stringify(summary)}\n`);
    return EXIT_FAILURE;
  };

  const verified = await verifyArchive(archive);
  if (verified.isErr()) {
    const e = verified.error;
    const filesDir = join(archive, 'files');
    const original = e.path.startsWith(`${filesDir}/`) ? e.path.slice(filesDir.length) : null;
    const detail = `${formatArchiveError(e)}${original === null ? '' : ` (the archived copy of ${original})`}`;
    return fail(
      summaryOf(archive, dryRun, null, { error: { path: e.path, detail: e.detail } }),
      `memgov restore: verification failed, nothing was copied: ${detail}\n`,
    );
  }
  const manifest = await readRestoreManifest(archive);
  if (manifest.isErr()) {
    return fail(
      summaryOf(archive, dryRun, null, { error: manifest.error }),
      `memgov restore: ${manifest.error.path}: ${manifest.error.detail}\n`,
    );
  }

  const planned: PlannedFile[] = [];
  const conflicts: Conflict[] = [];
  const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  for (const file of manifest.value.files) {
    const plan = await planFile(archive, manifest.value, file, force, buffer);
    if (plan.isErr()) {
      return fail(
        summaryOf(archive, dryRun, manifest.value, { planned, error: plan.error }),
        `memgov restore: ${plan.error.path}: ${plan.error.detail}\n`,
      );
    }
    const value = plan.value;
    if ('why' in value) {
      if (!conflicts.some((c) => c.path === value.path)) conflicts.push(value);
    } else planned.push(value);
  }
  if (conflicts.length > 0) {
    return fail(
      summaryOf(archive, dryRun, manifest.value, { planned, conflicts }),
      conflictText(conflicts),
    );
  }

  let restored = 0;
  if (!dryRun) {
    const written = await write(planned);
    if (written.isErr()) {
      const { restored: done, ...error } = written.error;
      const partial =
        done === 0 ? 'nothing was restored' : `${count(done, 'file')} already in place`;
      return fail(
        summaryOf(archive, dryRun, manifest.value, { planned, error, restored: done }),
        `memgov restore: ${error.path}: ${error.detail} (${partial})\n`,
      );
    }
    restored = written.value;
  }
  const summary = summaryOf(archive, dryRun, manifest.value, { planned, restored });
  io.out(json ? `${JSON.stringify(summary)}\n` : human(summary, manifest.value));
  return EXIT_OK;
}
