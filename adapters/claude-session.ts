// Finds and reads a Claude Code session from outside the process (SPEC section 5; facts in
// research/agent-control.md). Parsers and detectors are pure functions over strings and records;
// the fs readers around them are thin and return Results. Everything here is undocumented
// Claude Code internals that change between versions, so each reader tolerates the forms seen:
// - `sessions/<pid>.json` (v2.1.139+): camelCase `sessionId`, `cwd`, `status` idle|busy|waiting|
//   shell, `procStart` (on Linux the /proc/PID/stat starttime verbatim, as a string), plus
//   `startedAt`, `updatedAt`, `statusUpdatedAt`, `version` and more. Older `pid-<pid>.json` files
//   hold `session_id` and `cwd` only. SDK-driven sessions never write `status`.
// - Project directories: every UTF-16 code unit outside [A-Za-z0-9] becomes `-` (so `/`, `.`,
//   `_`, spaces all fold); names past 200 characters were cut and given a hash suffix, a scheme
//   v2.1.224 changed again, and v2.1.234 added CLAUDE_CODE_PROJECT_DIR_NAME to rename the
//   directory outright. So the transcript is looked for where the name says, then by session id
//   across `projects/*`.
// - `/clear` rotates the session id; v2.1.119 left the old id in `sessions/<pid>.json`, later
//   versions update it. A new transcript file in the project directory is the fallback signal.
import { constants, type Dirent } from 'node:fs';
import { lstat, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { errnoCode, errnoSummary } from './errno.ts';
import type { ProcessIdentity } from './proc.ts';
import { isRecord } from '../lib/record.ts';

/** Environment variables, as `CliIo.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

export type ClaudeStatus = 'idle' | 'busy' | 'waiting' | 'shell' | 'unknown';

/** One `sessions/<pid>.json` (or legacy `pid-<pid>.json`), parsed. */
export interface ClaudeSession {
  readonly pid: number;
  /** A safe path segment (checked when parsed): a UUID in every version seen. */
  readonly sessionId: string;
  /** Absolute; `claude --resume` only finds the session from this directory. */
  readonly cwd: string;
  /** `unknown` when absent (older versions, SDK sessions) or a value not known here. */
  readonly status: ClaudeStatus;
  /** As written: on Linux the starttime ticks of /proc/PID/stat ("20095994"); null if absent. */
  readonly procStart: string | null;
  readonly startedAtMs: number | null;
  readonly updatedAtMs: number | null;
  readonly statusUpdatedAtMs: number | null;
  readonly version: string | null;
  /** current: `<pid>.json` with `sessionId`; legacy: `session_id`, no status, no procStart. */
  readonly format: 'current' | 'legacy';
}

/** A session read from disk: where it was and when it was last written. */
export interface SessionFile extends ClaudeSession {
  readonly path: string;
  readonly mtimeMs: number;
}

export interface ClaudeSessionError {
  /** io: the file system failed; garbled: a file memgov cannot use; unsafe: a refused name. */
  readonly kind: 'io' | 'garbled' | 'unsafe';
  readonly path: string;
  readonly detail: string;
}

/** One transcript line: a JSON object whose shape depends on the Claude Code version. */
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

/** What showed that a compaction finished. */
export interface CompactionEvidence {
  readonly atMs: number;
  /** boundary: `system`/`compact_boundary`; summary: `isCompactSummary`; stdout: "Compacted". */
  readonly form: 'boundary' | 'summary' | 'stdout';
  /** `manual` or `auto` when the boundary says. */
  readonly trigger: string | null;
  readonly preTokens: number | null;
}

/** Whether a `sessions/<pid>.json` belongs to the live process that now holds the pid. */
export type SessionMatch =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'matched';
      readonly session: SessionFile;
      /** procStart: equal start ticks; fileTime: written after the process started; unverified: neither could be checked. */
      readonly verifiedBy: 'procStart' | 'fileTime' | 'unverified';
    }
  | { readonly kind: 'stale'; readonly session: SessionFile; readonly detail: string };

/** The paths that make up one session, ready for `archiveSession`. */
export interface SessionArchiveSet {
  /** Existing paths only, in a fixed order (see sessionArchiveSet). */
  readonly sources: readonly string[];
  /** Leaves out any `.credentials.json` (archiveSession skips them too: two locks, one door). */
  readonly exclude: (relPath: string, absPath: string) => boolean;
  /** What `memgov restore` needs to print the resume command. */
  readonly extraManifest: Readonly<Record<string, unknown>>;
}

/** A printable, runnable way back into a session. */
export interface ResumeCommand {
  readonly cwd: string;
  /** Run from `cwd`, never through a shell. */
  readonly argv: readonly string[];
  /** `cd '<cwd>' && <argv>`: for people to paste into a POSIX shell. */
  readonly display: string;
}

export const CLAUDE_PROFILE = 'claude-code';
const CREDENTIALS = '.credentials.json';
const STATUSES: ReadonlySet<string> = new Set(['idle', 'busy', 'waiting', 'shell']);
/** A session file is a few hundred bytes; anything this big is not one. */
const MAX_SESSION_FILE_BYTES = 64 * 1024;
/** Enough for the first record of a legacy `agent-*.jsonl` file (its sessionId). */
const FIRST_LINE_BYTES = 64 * 1024;
/** Claude Code's cut-off for project directory names (sessionStoragePortable.ts). */
const MAX_PROJECT_NAME = 200;
/** USER_HZ: the unit of /proc/PID/stat starttime, 100 on every mainstream Linux arch. */
const DEFAULT_TICKS_PER_SEC = 100;
/** A session file written more than this before its process started is another process's. */
const FILE_TIME_SLACK_MS = 2_000;
const CURRENT_NAME = /^(\d{1,10})\.json$/;
const LEGACY_NAME = /^pid-(\d{1,10})\.json$/;
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const TRANSCRIPT_NAME = /^(.+)\.jsonl$/;
// eslint-disable-next-line no-control-regex -- ANSI escapes are what this matches
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

function ioError(path: string, error: unknown): ClaudeSessionError {
  return { kind: 'io', path, detail: errnoSummary(error) };
}

function isMissing(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A session id usable as one path segment: never `..`, `/` or empty. */
export function isSafeSessionId(id: string): boolean {
  return SESSION_ID.test(id) && !id.includes('..');
}

/** `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`. */
export function claudeConfigDir(env: Env): string {
  const configured = env.CLAUDE_CONFIG_DIR;
  if (configured !== undefined && configured !== '') return configured;
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  return join(home, '.claude');
}

/** Claude Code's 32-bit string hash (`(h << 5) - h + code`, over UTF-16 code units). */
function claudePathHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = ((hash << 5) - hash + text.charCodeAt(i)) | 0;
  return hash;
}

/**
 * A cwd as Claude Code names its project directory: `/` and `.` (and every other UTF-16 code unit
 * outside [A-Za-z0-9]) become `-`, runs not collapsed. Past 200 characters: the first 200, `-`,
 * and a base-36 hash of the cwd (the pre-2.1.224 scheme; findTranscript does not rely on it).
 */
export function encodeCwd(cwd: string): string {
  const folded = cwd.replace(/[^A-Za-z0-9]/g, '-');
  if (folded.length <= MAX_PROJECT_NAME) return folded;
  return `${folded.slice(0, MAX_PROJECT_NAME)}-${Math.abs(claudePathHash(cwd)).toString(36)}`;
}

/** The project directory's name: CLAUDE_CODE_PROJECT_DIR_NAME when set (v2.1.234+), else encodeCwd. */
export function projectDirName(env: Env, cwd: string): string {
  const named = env.CLAUDE_CODE_PROJECT_DIR_NAME;
  if (
    named !== undefined &&
    named !== '' &&
    !named.includes('/') &&
    named !== '..' &&
    named !== '.'
  )
    return named;
  return encodeCwd(cwd);
}

function timeMs(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string' || value === '') return null;
  const parsed = Date.parse(value);
  return Number.isFinite(parsed) ? parsed : null;
}

function positivePid(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Parses a `sessions/<pid>.json` or legacy `pid-<pid>.json`. Extra fields are ignored; missing
 * optional ones are null; an unknown or missing status is `unknown`. Needs a session id that is a
 * safe path segment, an absolute cwd, and a pid (from the file, else `fallbackPid`, the one in the
 * file name). Never throws: anything else is an error naming what is wrong.
 */
export function parseSessionFile(
  text: string,
  fallbackPid?: number,
): Result<ClaudeSession, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return err('not JSON');
  }
  if (!isRecord(parsed)) return err('not a JSON object');
  const current = typeof parsed.sessionId === 'string';
  const sessionId = current ? parsed.sessionId : parsed.session_id;
  if (typeof sessionId !== 'string') return err('no "sessionId"');
  if (!isSafeSessionId(sessionId)) return err(`unsafe session id ${JSON.stringify(sessionId)}`);
  const cwd = parsed.cwd;
  if (typeof cwd !== 'string' || !isAbsolute(cwd) || cwd.includes('\0')) {
    return err('"cwd" is not an absolute path');
  }
  const pid = positivePid(parsed.pid) ?? positivePid(fallbackPid);
  if (pid === undefined) return err('no "pid"');
  const status =
    typeof parsed.status === 'string' && STATUSES.has(parsed.status) ? parsed.status : 'unknown';
  const rawStart = parsed.procStart;
  const procStart =
    typeof rawStart === 'number' && Number.isFinite(rawStart)
      ? String(rawStart)
      : typeof rawStart === 'string' && rawStart.trim() !== ''
        ? rawStart.trim()
        : null;
  return ok({
    pid,
    sessionId,
    cwd,
    status: status as ClaudeStatus,
    procStart,
    startedAtMs: timeMs(parsed.startedAt),
    updatedAtMs: timeMs(parsed.updatedAt),
    statusUpdatedAtMs: timeMs(parsed.statusUpdatedAt),
    version: typeof parsed.version === 'string' ? parsed.version : null,
    format: current ? 'current' : 'legacy',
  });
}

/** Reads a small file whole, refusing one over `maxBytes`; null when it does not exist. */
async function readSmall(
  path: string,
  maxBytes: number,
): Promise<Result<{ text: string; mtimeMs: number } | null, ClaudeSessionError>> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
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

async function readSessionPath(
  path: string,
  pid: number,
): Promise<Result<SessionFile | null, ClaudeSessionError>> {
  const read = await readSmall(path, MAX_SESSION_FILE_BYTES);
  if (read.isErr()) return err(read.error);
  if (read.value === null) return ok(null);
  const { text, mtimeMs } = read.value;
  const parsed = parseSessionFile(text, pid);
  if (parsed.isErr()) return err({ kind: 'garbled', path, detail: parsed.error });
  if (parsed.value.pid !== pid) {
    return err({ kind: 'garbled', path, detail: `names pid ${parsed.value.pid}` });
  }
  return ok({ ...parsed.value, path, mtimeMs });
}

/** `sessions/<pid>.json`, else the legacy `sessions/pid-<pid>.json`; null when neither exists. */
export async function readSessionFor(
  pid: number,
  env: Env,
): Promise<Result<SessionFile | null, ClaudeSessionError>> {
  const dir = join(claudeConfigDir(env), 'sessions');
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    return err({ kind: 'unsafe', path: dir, detail: `${pid} is not a process id` });
  }
  const current = await readSessionPath(join(dir, `${pid}.json`), pid);
  if (current.isErr() || current.value !== null) return current;
  return readSessionPath(join(dir, `pid-${pid}.json`), pid);
}

/**
 * Every session file under `sessions/`, both generations, sorted by pid (current first when a pid
 * has both). Files that cannot be used are listed in `unusable`, not fatal: one torn write must
 * not hide the others. A missing `sessions/` is no sessions.
 */
export async function findSessions(
  env: Env,
): Promise<
  Result<{ sessions: SessionFile[]; unusable: ClaudeSessionError[] }, ClaudeSessionError>
> {
  const dir = join(claudeConfigDir(env), 'sessions');
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    return isMissing(error) ? ok({ sessions: [], unusable: [] }) : err(ioError(dir, error));
  }
  const sessions: SessionFile[] = [];
  const unusable: ClaudeSessionError[] = [];
  for (const entry of entries) {
    const match = CURRENT_NAME.exec(entry.name) ?? LEGACY_NAME.exec(entry.name);
    if (match === null || !entry.isFile()) continue;
    const read = await readSessionPath(join(dir, entry.name), Number(match[1]));
    if (read.isErr()) unusable.push(read.error);
    else if (read.value !== null) sessions.push(read.value);
  }
  sessions.sort(
    (a, b) => a.pid - b.pid || (a.format === b.format ? 0 : a.format === 'current' ? -1 : 1),
  );
  return ok({ sessions, unusable });
}

/** `btime` from `<procRoot>/stat`: the boot time in seconds since the epoch. */
async function readBootTimeSec(procRoot: string): Promise<number | undefined> {
  const text = await readFile(join(procRoot, 'stat'), 'utf8').catch(() => undefined);
  const match = text === undefined ? null : /^btime (\d+)$/m.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The session file of the live process `identity` (adopted from /proc), checked so that a pid the
 * kernel has handed to another process never matches: a numeric `procStart` must equal the start
 * ticks; without one (older versions, or a non-Linux date form) the file must not predate the
 * process (boot time from `<procRoot>/stat` + start ticks / `ticksPerSec`).
 */
export async function sessionForProcess(
  identity: ProcessIdentity,
  env: Env,
  options: { readonly procRoot?: string; readonly ticksPerSec?: number } = {},
): Promise<Result<SessionMatch, ClaudeSessionError>> {
  const read = await readSessionFor(identity.pid, env);
  if (read.isErr()) return err(read.error);
  const session = read.value;
  if (session === null) return ok({ kind: 'none' });
  if (session.procStart !== null && /^\d{1,16}$/.test(session.procStart)) {
    const ticks = Number(session.procStart);
    return ok(
      ticks === identity.startTicks
        ? { kind: 'matched', session, verifiedBy: 'procStart' }
        : {
            kind: 'stale',
            session,
            detail: `procStart ${ticks}, the process started at tick ${identity.startTicks}`,
          },
    );
  }
  const bootSec = await readBootTimeSec(options.procRoot ?? '/proc');
  if (bootSec === undefined) return ok({ kind: 'matched', session, verifiedBy: 'unverified' });
  const ticksPerSec = options.ticksPerSec ?? DEFAULT_TICKS_PER_SEC;
  const startedMs = (bootSec + identity.startTicks / ticksPerSec) * 1000;
  if (session.mtimeMs + FILE_TIME_SLACK_MS < startedMs) {
    return ok({
      kind: 'stale',
      session,
      detail: `written at ${new Date(session.mtimeMs).toISOString()}, before the process started (${new Date(startedMs).toISOString()})`,
    });
  }
  return ok({ kind: 'matched', session, verifiedBy: 'fileTime' });
}

/** Where the transcript of `sessionId` in `cwd` is expected: `projects/<name>/<sid>.jsonl`. */
export function transcriptPath(
  env: Env,
  cwd: string,
  sessionId: string,
): Result<string, ClaudeSessionError> {
  const projects = join(claudeConfigDir(env), 'projects');
  if (!isSafeSessionId(sessionId)) {
    return err({
      kind: 'unsafe',
      path: projects,
      detail: `unsafe session id ${JSON.stringify(sessionId)}`,
    });
  }
  return ok(join(projects, projectDirName(env, cwd), `${sessionId}.jsonl`));
}

async function isFileAt(path: string): Promise<Result<boolean, ClaudeSessionError>> {
  try {
    return ok((await stat(path)).isFile());
  } catch (error) {
    return isMissing(error) ? ok(false) : err(ioError(path, error));
  }
}

/**
 * The transcript of `sessionId`: at transcriptPath, else the first `projects/*\/<sid>.jsonl`
 * (sorted by name): project directory names changed between versions. Null when none exists.
 */
export async function findTranscript(
  env: Env,
  cwd: string,
  sessionId: string,
): Promise<Result<string | null, ClaudeSessionError>> {
  const expected = transcriptPath(env, cwd, sessionId);
  if (expected.isErr()) return err(expected.error);
  const there = await isFileAt(expected.value);
  if (there.isErr()) return err(there.error);
  if (there.value) return ok(expected.value);
  const projects = join(claudeConfigDir(env), 'projects');
  let entries: Dirent[];
  try {
    entries = await readdir(projects, { withFileTypes: true });
  } catch (error) {
    return isMissing(error) ? ok(null) : err(ioError(projects, error));
  }
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  for (const name of names.sort()) {
    const candidate = join(projects, name, `${sessionId}.jsonl`);
    const found = await isFileAt(candidate);
    if (found.isOk() && found.value) return ok(candidate);
  }
  return ok(null);
}

/**
 * Parses transcript text, one JSON object per line. With `startsMidLine` the text begins inside a
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
  const parse = (line: string): TranscriptRecord | undefined => {
    try {
      const value: unknown = JSON.parse(line);
      return isRecord(value) ? value : undefined;
    } catch {
      return undefined;
    }
  };
  for (const line of lines) {
    if (line.trim() === '') continue;
    const record = parse(line);
    if (record === undefined) garbledLines++;
    else records.push(record);
  }
  let partialLastLine = false;
  if (unterminated.trim() !== '') {
    const record = parse(unterminated);
    if (record === undefined) partialLastLine = true;
    else records.push(record);
  }
  return { records, garbledLines, partialLastLine };
}

/**
 * Reads at most `maxBytes` from the end of a transcript (they grow to hundreds of MiB; the file
 * is never read whole) and parses the complete lines in that window.
 */
export async function readTranscriptTail(
  path: string,
  maxBytes: number,
): Promise<Result<TranscriptTail, ClaudeSessionError>> {
  const limit = Number.isFinite(maxBytes) ? Math.max(0, Math.floor(maxBytes)) : 0;
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return err(ioError(path, error));
  }
  try {
    const found = await handle.stat();
    if (!found.isFile()) return err({ kind: 'garbled', path, detail: 'not a regular file' });
    const fileBytes = found.size;
    const startOffset = Math.max(0, fileBytes - limit);
    const buffer = Buffer.alloc(fileBytes - startOffset);
    let bytesRead = 0;
    while (bytesRead < buffer.length) {
      const read = await handle.read(
        buffer,
        bytesRead,
        buffer.length - bytesRead,
        startOffset + bytesRead,
      );
      if (read.bytesRead === 0) break;
      bytesRead += read.bytesRead;
    }
    const text = buffer.toString('utf8', 0, bytesRead);
    return ok({ ...parseTranscriptText(text, startOffset > 0), fileBytes, startOffset, bytesRead });
  } catch (error) {
    return err(ioError(path, error));
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The record's own time: an ISO `timestamp` (or epoch ms); null when it has none. */
export function recordTimeMs(record: TranscriptRecord): number | null {
  return timeMs(record.timestamp);
}

/**
 * The record's text, ANSI escapes removed: top-level `content` (system records, older user
 * records), `message` as a string, `message.content` as a string or its text blocks.
 */
export function recordText(record: TranscriptRecord): string {
  const parts: string[] = [];
  const add = (value: unknown): void => {
    if (typeof value === 'string') parts.push(value);
    else if (Array.isArray(value)) {
      for (const block of value as unknown[]) {
        if (isRecord(block) && typeof block.text === 'string') parts.push(block.text);
      }
    }
  };
  add(record.content);
  const message = record.message;
  if (typeof message === 'string') parts.push(message);
  else if (isRecord(message)) add(message.content);
  return parts.join('\n').replace(ANSI, '');
}

/**
 * Records with their effective time: their own timestamp, else the last one seen before them
 * (snapshots and some system records carry none). Sidechain (subagent) records are left out:
 * only the main conversation's commands and compactions count.
 */
function* timedRecords(
  records: readonly TranscriptRecord[],
): Generator<{ record: TranscriptRecord; atMs: number }> {
  let lastMs = Number.NEGATIVE_INFINITY;
  for (const record of records) {
    const own = recordTimeMs(record);
    if (own !== null) lastMs = own;
    if (record.isSidechain === true) continue;
    yield { record, atMs: lastMs };
  }
}

const COMPACTED_STDOUT = /<local-command-stdout>\s*Compacted\b/;

/**
 * The first sign, at or after `sinceMs`, that a compaction finished: a `system` record with
 * subtype `compact_boundary` (v1.0.x+: `compactMetadata.trigger`, `preTokens`), a record with
 * `isCompactSummary: true`, or `<local-command-stdout>Compacted…` in a user record (older) or a
 * `system`/`local_command` record (newer, with ANSI dimming). An auto-compaction counts too: the
 * context shrank either way.
 */
export function findCompaction(
  records: readonly TranscriptRecord[],
  sinceMs: number,
): CompactionEvidence | null {
  for (const { record, atMs } of timedRecords(records)) {
    if (atMs < sinceMs) continue;
    if (record.type === 'system' && record.subtype === 'compact_boundary') {
      const meta = isRecord(record.compactMetadata) ? record.compactMetadata : {};
      return {
        atMs,
        form: 'boundary',
        trigger: typeof meta.trigger === 'string' ? meta.trigger : null,
        preTokens: typeof meta.preTokens === 'number' ? meta.preTokens : null,
      };
    }
    if (record.isCompactSummary === true) {
      return { atMs, form: 'summary', trigger: null, preTokens: null };
    }
    if (
      (record.type === 'user' || record.type === 'system') &&
      COMPACTED_STDOUT.test(recordText(record))
    ) {
      return { atMs, form: 'stdout', trigger: null, preTokens: null };
    }
  }
  return null;
}

/** Whether a compaction finished at or after `sinceMs` (see findCompaction). */
export function compactFinishedAfter(
  records: readonly TranscriptRecord[],
  sinceMs: number,
): boolean {
  return findCompaction(records, sinceMs) !== null;
}

/**
 * The error a compaction reported at or after `sinceMs`, e.g. "Compaction blocked by PreCompact
 * hook: …": `<local-command-stderr>` text that mentions compaction. Null when there is none.
 */
export function compactFailedAfter(
  records: readonly TranscriptRecord[],
  sinceMs: number,
): string | null {
  for (const { record, atMs } of timedRecords(records)) {
    if (atMs < sinceMs || (record.type !== 'user' && record.type !== 'system')) continue;
    const match = /<local-command-stderr>([\s\S]*?)(?:<\/local-command-stderr>|$)/.exec(
      recordText(record),
    );
    if (match !== null && /compact/i.test(match[1] ?? ''))
      return (match[1] ?? '').trim().slice(0, 300);
  }
  return null;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Whether the agent took `command` (e.g. `/compact`, arguments allowed) at or after `sinceMs`: a
 * `user` record whose text is the slash-command wrapper for it (`<command-name>/compact</command-name>`,
 * also after a leading `<command-message>` as older versions wrote it) or the literal text. A
 * `queue-operation` (typed mid-turn, only queued) does not count. The tmux transport's verify.
 */
export function commandTaken(
  records: readonly TranscriptRecord[],
  command: string,
  sinceMs: number,
): boolean {
  const literal = command.trim();
  const first = literal.split(/\s+/)[0] ?? '';
  if (first === '' || first === '/') return false;
  const name = first.startsWith('/') ? first : `/${first}`;
  const wrapper = new RegExp(
    `^(?:<command-message>[^<]*</command-message>\\s*)?<command-name>${escapeRegExp(name)}</command-name>`,
  );
  for (const { record, atMs } of timedRecords(records)) {
    if (atMs < sinceMs || record.type !== 'user') continue;
    const text = recordText(record).trim();
    if (wrapper.test(text)) return true;
    if (
      text === literal ||
      text.startsWith(`${name} `) ||
      text.startsWith(`${name}\n`) ||
      text === name
    )
      return true;
  }
  return false;
}

/** Whether `/clear` finished: the session file now names another session id. */
export function clearFinished(before: string, after: ClaudeSession | null): boolean {
  return after !== null && after.sessionId !== before && isSafeSessionId(after.sessionId);
}

/**
 * The session `/clear` moved to, from a project directory's listing: the newest `<sid>.jsonl`
 * other than `before`, written at or after `sinceMs`. For versions whose session file keeps the
 * old id after /clear. Null when there is none.
 */
export function clearedSessionId(
  entries: readonly { readonly name: string; readonly mtimeMs: number }[],
  before: string,
  sinceMs: number,
): string | null {
  let best: { id: string; mtimeMs: number } | null = null;
  for (const { name, mtimeMs } of entries) {
    const id = TRANSCRIPT_NAME.exec(name)?.[1];
    if (id === undefined || id === before || !isSafeSessionId(id) || id.startsWith('agent-'))
      continue;
    if (mtimeMs < sinceMs) continue;
    if (best === null || mtimeMs > best.mtimeMs) best = { id, mtimeMs };
  }
  return best?.id ?? null;
}

/** Lists the project directory of `session` and applies clearedSessionId. */
export async function findClearedSession(
  env: Env,
  session: ClaudeSession,
  sinceMs: number,
): Promise<Result<string | null, ClaudeSessionError>> {
  const transcript = await findTranscript(env, session.cwd, session.sessionId);
  if (transcript.isErr()) return err(transcript.error);
  const dir =
    transcript.value === null
      ? join(claudeConfigDir(env), 'projects', projectDirName(env, session.cwd))
      : join(transcript.value, '..');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    return isMissing(error) ? ok(null) : err(ioError(dir, error));
  }
  const entries: { name: string; mtimeMs: number }[] = [];
  for (const name of names) {
    if (!name.endsWith('.jsonl')) continue;
    const found = await stat(join(dir, name)).catch(() => undefined);
    if (found?.isFile() === true) entries.push({ name, mtimeMs: found.mtimeMs });
  }
  return ok(clearedSessionId(entries, session.sessionId, sinceMs));
}

/**
 * Reads up to `maxBytes` from the start of a file (O_NONBLOCK: a FIFO planted in a session
 * directory never blocks the read); undefined when it cannot be read.
 */
export async function readHead(path: string, maxBytes: number): Promise<string | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const buffer = Buffer.alloc(maxBytes);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The sessionId of the first record of a legacy `agent-*.jsonl`, reading at most 64 KiB. */
async function firstRecordSessionId(path: string): Promise<string | undefined> {
  const text = await readHead(path, FIRST_LINE_BYTES);
  if (text === undefined) return undefined;
  const newline = text.indexOf('\n');
  try {
    const value: unknown = JSON.parse(newline === -1 ? text : text.slice(0, newline));
    return isRecord(value) && typeof value.sessionId === 'string' ? value.sessionId : undefined;
  } catch {
    return undefined;
  }
}

type Kind = 'file' | 'dir';

/** Whether `path` exists as `kind` (following a symlink, as archiveSession does for sources). */
async function existsAs(path: string, kind: Kind): Promise<boolean> {
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

async function listNames(dir: string): Promise<string[]> {
  return readdir(dir).then(
    (names) => names.sort(),
    () => [],
  );
}

/** What the manifest records so that `memgov restore` can print the resume command. */
export function sessionManifestExtra(env: Env, session: ClaudeSession): Record<string, unknown> {
  return {
    profile: CLAUDE_PROFILE,
    sessionId: session.sessionId,
    cwd: session.cwd,
    agentPid: session.pid,
    claudeConfigDir: claudeConfigDir(env),
  };
}

/**
 * The paths that make up `session`, existing ones only, in this order: the transcript
 * `projects/<dir>/<sid>.jsonl`, its `projects/<dir>/<sid>/` (subagents, tool results), legacy
 * `projects/<dir>/agent-*.jsonl` whose first record names the session, `file-history/<sid>/`,
 * `todos/<sid>-*.json`, `session-env/<sid>/`, the session file, and `plans/` (plans are named by
 * slug, not session). Never `.credentials.json`: not listed, and excluded inside directories.
 */
export async function sessionArchiveSet(
  env: Env,
  session: ClaudeSession,
): Promise<Result<SessionArchiveSet, ClaudeSessionError>> {
  const root = claudeConfigDir(env);
  const sid = session.sessionId;
  if (!isSafeSessionId(sid)) {
    return err({ kind: 'unsafe', path: root, detail: `unsafe session id ${JSON.stringify(sid)}` });
  }
  const transcript = await findTranscript(env, session.cwd, sid);
  if (transcript.isErr()) return err(transcript.error);
  const projectDir =
    transcript.value === null
      ? join(root, 'projects', projectDirName(env, session.cwd))
      : join(transcript.value, '..');
  const candidates: [string, Kind][] = [];
  if (transcript.value !== null) candidates.push([transcript.value, 'file']);
  candidates.push([join(projectDir, sid), 'dir']);
  for (const name of await listNames(projectDir)) {
    if (!/^agent-[A-Za-z0-9_-]+\.jsonl$/.test(name)) continue;
    const path = join(projectDir, name);
    if ((await firstRecordSessionId(path)) === sid) candidates.push([path, 'file']);
  }
  candidates.push([join(root, 'file-history', sid), 'dir']);
  const todos = join(root, 'todos');
  for (const name of await listNames(todos)) {
    if (name.startsWith(`${sid}-`) && name.endsWith('.json'))
      candidates.push([join(todos, name), 'file']);
  }
  candidates.push([join(root, 'session-env', sid), 'dir']);
  const sessions = join(root, 'sessions');
  const sessionFile = (await existsAs(join(sessions, `${session.pid}.json`), 'file'))
    ? join(sessions, `${session.pid}.json`)
    : join(sessions, `pid-${session.pid}.json`);
  candidates.push([sessionFile, 'file'], [join(root, 'plans'), 'dir']);
  const sources: string[] = [];
  for (const [path, kind] of candidates) {
    if (basename(path) === CREDENTIALS || sources.includes(path)) continue;
    if (await existsAs(path, kind)) sources.push(path);
  }
  return ok({
    sources,
    exclude: (_relPath, absPath) => basename(absPath) === CREDENTIALS,
    extraManifest: sessionManifestExtra(env, session),
  });
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes `word` for a POSIX shell: bare when safe, else single quotes (`'` as `'\''`). */
export function shellQuote(word: string): string {
  return SHELL_SAFE.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `cd '<cwd>' && <argv quoted>`: the cwd always in single quotes, for display only. */
export function displayCommand(cwd: string, argv: readonly string[]): string {
  return `cd '${cwd.replace(/'/g, `'\\''`)}' && ${argv.map(shellQuote).join(' ')}`;
}

/** `claude --resume <sid>` from the session's cwd (resume only looks in that cwd's project). */
export function resumeCommand(session: Pick<ClaudeSession, 'cwd' | 'sessionId'>): ResumeCommand {
  const argv = ['claude', '--resume', session.sessionId];
  return { cwd: session.cwd, argv, display: displayCommand(session.cwd, argv) };
}
