// Reading the files agent CLIs leave on disk, from outside their processes: small JSON files read
// whole, the heads and tails of JSONL logs that grow to hundreds of MiB, directory listings where
// a missing directory is simply empty. Every reader opens with O_NONBLOCK (a FIFO planted in a
// session directory never blocks memgov) and returns a Result or a plain value; none throws.
// What each CLI's files mean lives in its own file under agents/ (see docs/AGENTS.md).
import { constants, type Dirent } from 'node:fs';
import { lstat, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { errnoCode, errnoSummary } from './errno.ts';
import { isRecord } from '../lib/record.ts';

/** Environment variables, as `CliIo.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

export interface SessionFileError {
  /** io: the file system failed; garbled: a file memgov cannot use; unsafe: a refused name. */
  readonly kind: 'io' | 'garbled' | 'unsafe';
  readonly path: string;
  readonly detail: string;
}

/** One line of a JSONL log: a JSON object whose shape depends on the CLI and its version. */
export type TranscriptRecord = Readonly<Record<string, unknown>>;

export interface TranscriptTail {
  /** The complete records in the window, in file order. */
  readonly records: readonly TranscriptRecord[];
  /** Lines in the window that are not a JSON object. */
  readonly garbledLines: number;
  /** The last line had no newline and did not parse: a record still being written. */
  readonly partialLastLine: boolean;
  readonly fileBytes: number;
  /** Where the window starts; a line cut by it is dropped. */
  readonly startOffset: number;
  readonly bytesRead: number;
}

/** A file in a listing, with its last write time. */
export interface TimedFile {
  readonly name: string;
  readonly path: string;
  readonly mtimeMs: number;
}

export type PathKind = 'file' | 'dir';

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

export function ioError(path: string, error: unknown): SessionFileError {
  return { kind: 'io', path, detail: errnoSummary(error) };
}

/** ENOENT or ENOTDIR: the path (or a directory above it) is not there. */
export function isMissing(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A session id usable as one path segment: never `..`, `/` or empty. */
export function isSafeSessionId(id: string): boolean {
  return SAFE_ID.test(id) && !id.includes('..');
}

export function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

/** `$HOME`, else the account's home directory. */
export function homeOf(env: Env): string {
  return nonEmpty(env.HOME) ? env.HOME : homedir();
}

/** A time field: epoch ms as a number, or a date text `Date.parse` reads; null otherwise. */
export function timeMs(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string' || value === '') return null;
  const parsed = Date.parse(value);
  return Number.isFinite(parsed) ? parsed : null;
}

/** A pid field: a positive safe integer, or its decimal text; undefined otherwise. */
export function positivePid(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A recorded process start (ticks, or whatever text a CLI wrote), trimmed; null when absent. */
export function procStartField(raw: unknown): string | null {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  return typeof raw === 'string' && raw.trim() !== '' ? raw.trim() : null;
}

/** A string field of a JSON text that may be cut short: parsed whole, else found by pattern. */
export function stringField(text: string, key: string): string | null {
  const match = new RegExp(`"${key}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"`).exec(text);
  if (match === null) return null;
  try {
    const value: unknown = JSON.parse(`"${match[1] ?? ''}"`);
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** The entries of a directory; a missing directory has none. */
export async function listDir(path: string): Promise<Result<Dirent[], SessionFileError>> {
  try {
    return ok(await readdir(path, { withFileTypes: true }));
  } catch (error) {
    return isMissing(error) ? ok([]) : err(ioError(path, error));
  }
}

/** The names in a directory, sorted; none when it cannot be read. */
export async function listNames(dir: string): Promise<string[]> {
  return readdir(dir).then(
    (names) => names.sort(),
    () => [],
  );
}

/**
 * The regular files of `dir` whose names match, in listing order, with their write times. A
 * symlink counts only with `followLinks` (and when it leads to a file).
 */
export async function timedFiles(
  dir: string,
  name: RegExp,
  options: { readonly followLinks?: boolean } = {},
): Promise<Result<TimedFile[], SessionFileError>> {
  const entries = await listDir(dir);
  if (entries.isErr()) return err(entries.error);
  const found: TimedFile[] = [];
  for (const entry of entries.value) {
    if (!name.test(entry.name) || (options.followLinks !== true && !entry.isFile())) continue;
    const path = join(dir, entry.name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() === true) found.push({ name: entry.name, path, mtimeMs: info.mtimeMs });
  }
  return ok(found);
}

/** Whether a regular file is at `path` (following a symlink); missing is false, not an error. */
export async function isFileAt(path: string): Promise<Result<boolean, SessionFileError>> {
  try {
    return ok((await stat(path)).isFile());
  } catch (error) {
    return isMissing(error) ? ok(false) : err(ioError(path, error));
  }
}

/** Whether `path` exists as `kind` (following a symlink, as archiveSession does for sources). */
export async function existsAs(path: string, kind: PathKind): Promise<boolean> {
  try {
    const found = await stat(path);
    return kind === 'file' ? found.isFile() : found.isDirectory();
  } catch (error) {
    // Present but unreadable: list it, and the archive records it as unreadable.
    return (
      !isMissing(error) &&
      (await lstat(path).then(
        () => true,
        () => false,
      ))
    );
  }
}

/**
 * The first answer `pick` gives over the subdirectories of `root`, sorted by name (each given as
 * its full path); null when it gives none.
 */
export async function firstSubdir<T>(
  root: string,
  pick: (dir: string) => Promise<T | null>,
): Promise<Result<T | null, SessionFileError>> {
  const entries = await listDir(root);
  if (entries.isErr()) return err(entries.error);
  const dirs = entries.value.filter((e) => e.isDirectory()).map((e) => e.name);
  for (const dir of dirs.sort()) {
    const picked = await pick(join(root, dir));
    if (picked !== null) return ok(picked);
  }
  return ok(null);
}

/** The first `<dir>/<name>` that is a file, over the subdirectories of `root` sorted by name. */
export function findInSubdirs(
  root: string,
  name: string,
): Promise<Result<string | null, SessionFileError>> {
  return firstSubdir(root, async (dir) => {
    const candidate = join(dir, name);
    const found = await isFileAt(candidate);
    return found.isOk() && found.value ? candidate : null;
  });
}

/**
 * The candidates that exist as their kind (see existsAs), in order, each once; names `skip` accepts
 * are left out.
 */
export async function existingPaths(
  candidates: readonly (readonly [string, PathKind])[],
  skip: (path: string) => boolean,
): Promise<string[]> {
  const found: string[] = [];
  for (const [path, kind] of candidates) {
    if (skip(path) || found.includes(path)) continue;
    if (await existsAs(path, kind)) found.push(path);
  }
  return found;
}

/** Reads a small file whole, refusing one over `maxBytes`; null when it does not exist. */
export async function readSmallFile(
  path: string,
  maxBytes: number,
): Promise<Result<{ text: string; mtimeMs: number } | null, SessionFileError>> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    return isMissing(error) ? ok(null) : err(ioError(path, error));
  }
  try {
    const found = await handle.stat();
    if (!found.isFile()) return err({ kind: 'garbled', path, detail: 'not a regular file' });
    if (found.size > maxBytes) {
      return err({ kind: 'garbled', path, detail: `${found.size} bytes, more than ${maxBytes}` });
    }
    const buffer = Buffer.alloc(found.size);
    const { bytesRead } = await handle.read(buffer, 0, found.size, 0);
    return ok({ text: buffer.toString('utf8', 0, bytesRead), mtimeMs: found.mtimeMs });
  } catch (error) {
    return err(ioError(path, error));
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** A per-process file (`<pid>.json` and the like), parsed, with where it was and its write time. */
export type PidFile<T> = T & { readonly path: string; readonly mtimeMs: number };

/** A file a process's registry entry is parsed from: its text and the pid its name gives. */
export type PidFileParser<T> = (text: string, pid: number) => Result<T, string>;

/** Longest per-process file read: they are a few hundred bytes; anything this big is not one. */
const MAX_PID_FILE_BYTES = 64 * 1024;

/**
 * Reads the per-process file at `path` that should describe `pid`; null when it does not exist.
 * Garbled when it does not parse or names another pid.
 */
export async function readPidFile<T extends { readonly pid: number }>(
  path: string,
  pid: number,
  parse: PidFileParser<T>,
): Promise<Result<PidFile<T> | null, SessionFileError>> {
  const read = await readSmallFile(path, MAX_PID_FILE_BYTES);
  if (read.isErr()) return err(read.error);
  if (read.value === null) return ok(null);
  const { text, mtimeMs } = read.value;
  const parsed = parse(text, pid);
  if (parsed.isErr()) return err({ kind: 'garbled', path, detail: parsed.error });
  if (parsed.value.pid !== pid) {
    return err({ kind: 'garbled', path, detail: `names pid ${parsed.value.pid}` });
  }
  return ok({ ...parsed.value, path, mtimeMs });
}

/**
 * Every per-process file of `dir` whose name matches one of `names` (the pid is the first group).
 * Files that cannot be used are listed in `unusable`, not fatal: one torn write must not hide the
 * others. A missing directory holds none.
 */
export async function readPidFiles<T extends { readonly pid: number }>(
  dir: string,
  names: readonly RegExp[],
  parse: PidFileParser<T>,
): Promise<Result<{ found: PidFile<T>[]; unusable: SessionFileError[] }, SessionFileError>> {
  const entries = await listDir(dir);
  if (entries.isErr()) return err(entries.error);
  const found: PidFile<T>[] = [];
  const unusable: SessionFileError[] = [];
  for (const entry of entries.value) {
    const match = names.map((name) => name.exec(entry.name)).find((m) => m != null);
    if (match == null || !entry.isFile()) continue;
    const read = await readPidFile(join(dir, entry.name), Number(match[1]), parse);
    if (read.isErr()) unusable.push(read.error);
    else if (read.value !== null) found.push(read.value);
  }
  return ok({ found, unusable });
}

/**
 * Records with their effective time, at or after `sinceMs`: their own `timestamp`, else the last
 * one seen before them (some records carry none). Records `skip` accepts are left out, their
 * timestamps still counted.
 */
export function* recordsSince(
  records: readonly TranscriptRecord[],
  sinceMs: number,
  skip: (record: TranscriptRecord) => boolean,
): Generator<{ record: TranscriptRecord; atMs: number }> {
  let lastMs = Number.NEGATIVE_INFINITY;
  for (const record of records) {
    const own = timeMs(record.timestamp);
    if (own !== null) lastMs = own;
    if (skip(record) || lastMs < sinceMs) continue;
    yield { record, atMs: lastMs };
  }
}

/** Reads up to `maxBytes` from the start of a file; undefined when it cannot be read. */
export async function readHead(path: string, maxBytes: number): Promise<string | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, READ_FLAGS);
    const buffer = Buffer.alloc(maxBytes);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The first line of a file's first `maxBytes`, parsed; undefined when it is not a JSON object. */
export async function readFirstRecord(
  path: string,
  maxBytes: number,
): Promise<TranscriptRecord | undefined> {
  const text = await readHead(path, maxBytes);
  if (text === undefined) return undefined;
  const newline = text.indexOf('\n');
  return parseRecord(newline === -1 ? text : text.slice(0, newline));
}

function parseRecord(line: string): TranscriptRecord | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses JSONL text, one JSON object per line. With `startsMidLine` the text begins inside a
 * line, which is dropped. A last line without a newline that does not parse is a record being
 * written (`partialLastLine`), not garbage. Never throws.
 */
export function parseTranscriptText(
  text: string,
  startsMidLine = false,
): Pick<TranscriptTail, 'records' | 'garbledLines' | 'partialLastLine'> {
  let body = text;
  if (startsMidLine) {
    const newline = body.indexOf('\n');
    body = newline === -1 ? '' : body.slice(newline + 1);
  }
  const lines = body.split('\n');
  const unterminated = lines.pop() ?? '';
  const records: TranscriptRecord[] = [];
  let garbledLines = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const record = parseRecord(line);
    if (record === undefined) garbledLines++;
    else records.push(record);
  }
  let partialLastLine = false;
  if (unterminated.trim() !== '') {
    const record = parseRecord(unterminated);
    if (record === undefined) partialLastLine = true;
    else records.push(record);
  }
  return { records, garbledLines, partialLastLine };
}

async function readWindow(handle: FileHandle, startOffset: number, length: number) {
  const buffer = Buffer.alloc(length);
  let bytesRead = 0;
  while (bytesRead < length) {
    const read = await handle.read(buffer, bytesRead, length - bytesRead, startOffset + bytesRead);
    if (read.bytesRead === 0) break;
    bytesRead += read.bytesRead;
  }
  return { text: buffer.toString('utf8', 0, bytesRead), bytesRead };
}

/** The last `maxBytes` of the regular file `path`, as text, and where that window starts. */
export async function readTextTail(
  path: string,
  maxBytes: number,
): Promise<
  Result<
    { text: string; fileBytes: number; startOffset: number; bytesRead: number },
    SessionFileError
  >
> {
  const limit = Number.isFinite(maxBytes) ? Math.max(0, Math.floor(maxBytes)) : 0;
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    return err(ioError(path, error));
  }
  try {
    const found = await handle.stat();
    if (!found.isFile()) return err({ kind: 'garbled', path, detail: 'not a regular file' });
    const fileBytes = found.size;
    const startOffset = Math.max(0, fileBytes - limit);
    const { text, bytesRead } = await readWindow(handle, startOffset, fileBytes - startOffset);
    return ok({ text, fileBytes, startOffset, bytesRead });
  } catch (error) {
    return err(ioError(path, error));
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Reads at most `maxBytes` from the end of a JSONL log (transcripts grow to hundreds of MiB; the
 * file is never read whole) and parses the complete lines in that window.
 */
export async function readTranscriptTail(
  path: string,
  maxBytes: number,
): Promise<Result<TranscriptTail, SessionFileError>> {
  return (await readTextTail(path, maxBytes)).map(
    ({ text, fileBytes, startOffset, bytesRead }) => ({
      ...parseTranscriptText(text, startOffset > 0),
      fileBytes,
      startOffset,
      bytesRead,
    }),
  );
}
