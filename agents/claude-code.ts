// Claude Code (docs/AGENTS.md), the first-class profile: /compact and /clear, busy and idle from
// its own status file, taken and finished from its transcript, the session's files for the
// archive, and `claude --resume <sid>` from the session's cwd. Everything read here is
// undocumented Claude Code internals that change between versions, so each reader tolerates the
// forms seen:
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
import { basename, isAbsolute, join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { readBootTimeSec, type ProcessIdentity } from '../adapters/proc.ts';
import {
  existsAs,
  findInSubdirs,
  homeOf,
  isFileAt,
  isSafeSessionId,
  listDir,
  listNames,
  nonEmpty,
  readFirstRecord,
  readSmallFile,
  readTranscriptTail,
  timedFiles,
  timeMs,
  type Env,
  type PathKind,
  type SessionFileError,
  type TranscriptRecord,
} from '../adapters/session-files.ts';
import { paneLacks, paneShows, type Predicate } from '../adapters/tmux.ts';
import { isRecord } from '../lib/record.ts';
import type {
  AgentProfile,
  Completion,
  ProfilePorts,
  ResumeCommand,
  RungName,
  RungProbe,
  SessionSet,
} from './profile.ts';
import { BUSY_MARKER, hasNoCommand, resumeIn } from './terminal.ts';

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

const CREDENTIALS = '.credentials.json';
const STATUSES: ReadonlySet<string> = new Set(['idle', 'busy', 'waiting', 'shell']);
/** A session file is a few hundred bytes; anything this big is not one. */
const MAX_SESSION_FILE_BYTES = 64 * 1024;
/** Enough for the first record of a legacy `agent-*.jsonl` file (its sessionId). */
const FIRST_LINE_BYTES = 64 * 1024;
/** Transcripts grow to hundreds of MiB: only this much of the end is read per check. */
const TAIL_BYTES = 4 << 20;
/** Claude Code's cut-off for project directory names (sessionStoragePortable.ts). */
const MAX_PROJECT_NAME = 200;
/** USER_HZ: the unit of /proc/PID/stat starttime, 100 on every mainstream Linux arch. */
const DEFAULT_TICKS_PER_SEC = 100;
/** A session file written more than this before its process started is another process's. */
const FILE_TIME_SLACK_MS = 2_000;
const CURRENT_NAME = /^(\d{1,10})\.json$/;
const LEGACY_NAME = /^pid-(\d{1,10})\.json$/;
const TRANSCRIPT_NAME = /^(.+)\.jsonl$/;
const COMPACTED_STDOUT = /<local-command-stdout>\s*Compacted\b/;
// eslint-disable-next-line no-control-regex -- ANSI escapes are what this matches
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

function unsafeId(path: string, id: string): SessionFileError {
  return { kind: 'unsafe', path, detail: `unsafe session id ${JSON.stringify(id)}` };
}

// ------------------------------------------------------------------------------- where it lives

/** `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`. */
export function claudeConfigDir(env: Env): string {
  return nonEmpty(env.CLAUDE_CONFIG_DIR) ? env.CLAUDE_CONFIG_DIR : join(homeOf(env), '.claude');
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
  const usable = nonEmpty(named) && !named.includes('/') && named !== '..' && named !== '.';
  return usable ? named : encodeCwd(cwd);
}

/** Where the transcript of `sessionId` in `cwd` is expected: `projects/<name>/<sid>.jsonl`. */
export function transcriptPath(
  env: Env,
  cwd: string,
  sessionId: string,
): Result<string, SessionFileError> {
  const projects = join(claudeConfigDir(env), 'projects');
  if (!isSafeSessionId(sessionId)) return err(unsafeId(projects, sessionId));
  return ok(join(projects, projectDirName(env, cwd), `${sessionId}.jsonl`));
}

/**
 * The transcript of `sessionId`: at transcriptPath, else the first `projects/*\/<sid>.jsonl`
 * (sorted by name): project directory names changed between versions. Null when none exists.
 */
export async function findTranscript(
  env: Env,
  cwd: string,
  sessionId: string,
): Promise<Result<string | null, SessionFileError>> {
  const expected = transcriptPath(env, cwd, sessionId);
  if (expected.isErr()) return err(expected.error);
  const there = await isFileAt(expected.value);
  if (there.isErr()) return err(there.error);
  if (there.value) return ok(expected.value);
  return findInSubdirs(join(claudeConfigDir(env), 'projects'), `${sessionId}.jsonl`);
}

/** The directory of the session's transcript, or where it would be. */
async function projectDirOf(
  env: Env,
  session: ClaudeSession,
): Promise<Result<{ dir: string; transcript: string | null }, SessionFileError>> {
  const transcript = await findTranscript(env, session.cwd, session.sessionId);
  return transcript.map((found) => ({
    transcript: found,
    dir:
      found === null
        ? join(claudeConfigDir(env), 'projects', projectDirName(env, session.cwd))
        : join(found, '..'),
  }));
}

// -------------------------------------------------------------------------------- session files

function positivePid(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function procStartOf(raw: unknown): string | null {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  return typeof raw === 'string' && raw.trim() !== '' ? raw.trim() : null;
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
  const status = typeof parsed.status === 'string' && STATUSES.has(parsed.status);
  return ok({
    pid,
    sessionId,
    cwd,
    status: status ? (parsed.status as ClaudeStatus) : 'unknown',
    procStart: procStartOf(parsed.procStart),
    startedAtMs: timeMs(parsed.startedAt),
    updatedAtMs: timeMs(parsed.updatedAt),
    statusUpdatedAtMs: timeMs(parsed.statusUpdatedAt),
    version: typeof parsed.version === 'string' ? parsed.version : null,
    format: current ? 'current' : 'legacy',
  });
}

async function readSessionPath(
  path: string,
  pid: number,
): Promise<Result<SessionFile | null, SessionFileError>> {
  const read = await readSmallFile(path, MAX_SESSION_FILE_BYTES);
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
): Promise<Result<SessionFile | null, SessionFileError>> {
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
): Promise<Result<{ sessions: SessionFile[]; unusable: SessionFileError[] }, SessionFileError>> {
  const dir = join(claudeConfigDir(env), 'sessions');
  const entries = await listDir(dir);
  if (entries.isErr()) return err(entries.error);
  const sessions: SessionFile[] = [];
  const unusable: SessionFileError[] = [];
  for (const entry of entries.value) {
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

/** A session file without a numeric procStart: it must not predate the process. */
async function matchByFileTime(
  identity: ProcessIdentity,
  session: SessionFile,
  options: { readonly procRoot?: string; readonly ticksPerSec?: number },
): Promise<SessionMatch> {
  const bootSec = await readBootTimeSec(options.procRoot ?? '/proc');
  if (bootSec === null) return { kind: 'matched', session, verifiedBy: 'unverified' };
  const ticksPerSec = options.ticksPerSec ?? DEFAULT_TICKS_PER_SEC;
  const startedMs = (bootSec + identity.startTicks / ticksPerSec) * 1000;
  if (session.mtimeMs + FILE_TIME_SLACK_MS >= startedMs) {
    return { kind: 'matched', session, verifiedBy: 'fileTime' };
  }
  const written = new Date(session.mtimeMs).toISOString();
  const detail = `written at ${written}, before the process started (${new Date(startedMs).toISOString()})`;
  return { kind: 'stale', session, detail };
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
): Promise<Result<SessionMatch, SessionFileError>> {
  const read = await readSessionFor(identity.pid, env);
  if (read.isErr()) return err(read.error);
  const session = read.value;
  if (session === null) return ok({ kind: 'none' });
  if (session.procStart === null || !/^\d{1,16}$/.test(session.procStart)) {
    return ok(await matchByFileTime(identity, session, options));
  }
  const ticks = Number(session.procStart);
  if (ticks === identity.startTicks)
    return ok({ kind: 'matched', session, verifiedBy: 'procStart' });
  const detail = `procStart ${ticks}, the process started at tick ${identity.startTicks}`;
  return ok({ kind: 'stale', session, detail });
}

// ---------------------------------------------------------------------------------- transcripts

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
  sinceMs: number,
): Generator<{ record: TranscriptRecord; atMs: number }> {
  let lastMs = Number.NEGATIVE_INFINITY;
  for (const record of records) {
    const own = timeMs(record.timestamp);
    if (own !== null) lastMs = own;
    if (record.isSidechain === true || lastMs < sinceMs) continue;
    yield { record, atMs: lastMs };
  }
}

function compactionIn(record: TranscriptRecord, atMs: number): CompactionEvidence | null {
  if (record.type === 'system' && record.subtype === 'compact_boundary') {
    const meta = isRecord(record.compactMetadata) ? record.compactMetadata : {};
    const trigger = typeof meta.trigger === 'string' ? meta.trigger : null;
    const preTokens = typeof meta.preTokens === 'number' ? meta.preTokens : null;
    return { atMs, form: 'boundary', trigger, preTokens };
  }
  if (record.isCompactSummary === true) {
    return { atMs, form: 'summary', trigger: null, preTokens: null };
  }
  const typed = record.type === 'user' || record.type === 'system';
  if (typed && COMPACTED_STDOUT.test(recordText(record))) {
    return { atMs, form: 'stdout', trigger: null, preTokens: null };
  }
  return null;
}

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
  for (const { record, atMs } of timedRecords(records, sinceMs)) {
    const found = compactionIn(record, atMs);
    if (found !== null) return found;
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
  for (const { record } of timedRecords(records, sinceMs)) {
    if (record.type !== 'user' && record.type !== 'system') continue;
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
  const typed = (text: string): boolean =>
    wrapper.test(text) ||
    text === literal ||
    text.startsWith(`${name} `) ||
    text.startsWith(`${name}\n`) ||
    text === name;
  for (const { record } of timedRecords(records, sinceMs)) {
    if (record.type === 'user' && typed(recordText(record).trim())) return true;
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
): Promise<Result<string | null, SessionFileError>> {
  const project = await projectDirOf(env, session);
  if (project.isErr()) return err(project.error);
  const files = await timedFiles(project.value.dir, /\.jsonl$/, { followLinks: true });
  return files.map((found) => clearedSessionId(found, session.sessionId, sinceMs));
}

// ------------------------------------------------------------------------------------- archives

/** What the manifest records so that `memgov restore` can print the resume command. */
function sessionManifestExtra(env: Env, session: ClaudeSession): Record<string, unknown> {
  return {
    profile: 'claude-code',
    sessionId: session.sessionId,
    cwd: session.cwd,
    agentPid: session.pid,
    claudeConfigDir: claudeConfigDir(env),
  };
}

/** Legacy `agent-*.jsonl` files of the project directory whose first record names `sid`. */
async function legacyAgentFiles(projectDir: string, sid: string): Promise<[string, PathKind][]> {
  const found: [string, PathKind][] = [];
  for (const name of await listNames(projectDir)) {
    if (!/^agent-[A-Za-z0-9_-]+\.jsonl$/.test(name)) continue;
    const path = join(projectDir, name);
    if ((await readFirstRecord(path, FIRST_LINE_BYTES))?.sessionId === sid)
      found.push([path, 'file']);
  }
  return found;
}

/** Everything that may belong to the session, in archive order, existing or not. */
async function sessionCandidates(
  env: Env,
  session: ClaudeSession,
  project: { dir: string; transcript: string | null },
): Promise<[string, PathKind][]> {
  const root = claudeConfigDir(env);
  const sid = session.sessionId;
  const candidates: [string, PathKind][] = [];
  if (project.transcript !== null) candidates.push([project.transcript, 'file']);
  candidates.push([join(project.dir, sid), 'dir'], ...(await legacyAgentFiles(project.dir, sid)));
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
  return candidates;
}

/**
 * The paths that make up `session`, existing ones only, in this order: the transcript
 * `projects/<dir>/<sid>.jsonl`, its `projects/<dir>/<sid>/` (subagents, tool results), legacy
 * `projects/<dir>/agent-*.jsonl` whose first record names the session, `file-history/<sid>/`,
 * `todos/<sid>-*.json`, `session-env/<sid>/`, the session file, and `plans/` (plans are named by
 * slug, not session). Never `.credentials.json`: not listed, and excluded inside directories
 * (archiveSession skips them too: two locks, one door).
 */
export async function sessionArchiveSet(
  env: Env,
  session: ClaudeSession,
): Promise<Result<SessionSet, SessionFileError>> {
  if (!isSafeSessionId(session.sessionId)) {
    return err(unsafeId(claudeConfigDir(env), session.sessionId));
  }
  const project = await projectDirOf(env, session);
  if (project.isErr()) return err(project.error);
  const sources: string[] = [];
  for (const [path, kind] of await sessionCandidates(env, session, project.value)) {
    if (basename(path) === CREDENTIALS || sources.includes(path)) continue;
    if (await existsAs(path, kind)) sources.push(path);
  }
  return ok({
    sources,
    exclude: (_relPath, absPath) => basename(absPath) === CREDENTIALS,
    extraManifest: sessionManifestExtra(env, session),
  });
}

/** `claude --resume <sid>` from the session's cwd (resume only looks in that cwd's project). */
export function resumeCommand(session: Pick<ClaudeSession, 'cwd' | 'sessionId'>): ResumeCommand {
  return resumeIn(session.cwd, ['claude', '--resume', session.sessionId]);
}

// -------------------------------------------------------------------------------------- profile

async function claudeSession(pid: number | null, env: Env): Promise<SessionFile | null> {
  if (pid === null) return null;
  const read = await readSessionFor(pid, env);
  return read.isOk() ? read.value : null;
}

/** The end of the live session's transcript; null when it cannot be found or read. */
async function liveRecords(ports: ProfilePorts): Promise<readonly TranscriptRecord[] | null> {
  const session = await claudeSession(ports.pid, ports.env);
  if (session === null) return null;
  const path = await findTranscript(ports.env, session.cwd, session.sessionId);
  if (path.isErr() || path.value === null) return null;
  const tail = await readTranscriptTail(path.value, TAIL_BYTES);
  return tail.isOk() ? tail.value.records : null;
}

/** Idle when sessions/<pid>.json says so; without a status, when the pane lacks the busy marker. */
function claudeIdle(ports: ProfilePorts): Predicate {
  const paneIdle = paneLacks(ports.tmux, ports.target, BUSY_MARKER);
  return async () => {
    const session = await claudeSession(ports.pid, ports.env);
    if (session !== null && session.status !== 'unknown') return session.status === 'idle';
    return paneIdle();
  };
}

/** Finished: a compaction record after `sinceMs`; failed: the CLI's error about it. */
function compactCompletion(records: readonly TranscriptRecord[], sinceMs: number): Completion {
  const failure = compactFailedAfter(records, sinceMs);
  if (failure !== null) return { kind: 'failed', detail: `compaction failed: ${failure}` };
  const evidence = findCompaction(records, sinceMs);
  if (evidence === null) return { kind: 'pending' };
  const tokens = evidence.preTokens === null ? '' : `, ${evidence.preTokens} tokens before`;
  return { kind: 'done', detail: `compaction finished (${evidence.form}${tokens})` };
}

/** /compact: taken when the transcript records the command (or the pane shows it), finished by its records. */
function compactProbe(text: string, ports: ProfilePorts, sinceMs: number): RungProbe {
  const paneTaken = paneShows(ports.tmux, ports.target, /Compacting|Compacted/);
  return {
    isIdle: claudeIdle(ports),
    taken: async () => {
      const found = await liveRecords(ports);
      return found === null ? paneTaken() : commandTaken(found, text, sinceMs);
    },
    finished: async () => {
      const found = await liveRecords(ports);
      return found === null ? { kind: 'pending' } : compactCompletion(found, sinceMs);
    },
  };
}

/**
 * /clear: a new session id in sessions/<pid>.json, or (versions that keep the old id there) a new
 * transcript in the project directory.
 */
function clearProbe(ports: ProfilePorts, sinceMs: number, before: SessionFile | null): RungProbe {
  const newSession = async (): Promise<string | null> => {
    if (before === null) return null;
    const after = await claudeSession(ports.pid, ports.env);
    if (clearFinished(before.sessionId, after)) return after?.sessionId ?? null;
    const found = await findClearedSession(ports.env, before, sinceMs);
    return found.isOk() ? found.value : null;
  };
  return {
    isIdle: claudeIdle(ports),
    taken: async () => (await newSession()) !== null,
    finished: async () => {
      const id = await newSession();
      return id === null
        ? { kind: 'pending' }
        : { kind: 'done', detail: `new session ${id} (was ${before?.sessionId ?? 'unknown'})` };
    },
  };
}

async function claudeProbe(action: RungName, text: string, ports: ProfilePorts) {
  const sinceMs = ports.now();
  const before = await claudeSession(ports.pid, ports.env);
  return action === 'compact'
    ? compactProbe(text, ports, sinceMs)
    : clearProbe(ports, sinceMs, before);
}

/**
 * Drops Claude Code's own `--resume X`, `--resume=X`, `-r X`, `--continue` and `-c`, so exactly one
 * resume is given. Only when the program is `claude` itself: a wrapper (`sh -c '...'`, a script)
 * keeps its arguments untouched, and the appended `--resume <sid>` reaches claude through it.
 */
export function withoutResume(argv: readonly string[]): string[] {
  if (argv[0] === undefined || basename(argv[0]) !== 'claude') return [...argv];
  const kept: string[] = [argv[0]];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      kept.push(...argv.slice(i));
      break;
    }
    if (arg === '--resume' || arg === '-r') {
      i++;
      continue;
    }
    if (arg.startsWith('--resume=') || arg === '--continue' || arg === '-c') continue;
    kept.push(arg);
  }
  return kept;
}

async function claudeSessionSet(pid: number, env: Env) {
  const read = await readSessionFor(pid, env);
  if (read.isErr() || read.value === null) return read.map(() => null);
  const session = read.value;
  const set = await sessionArchiveSet(env, session);
  return set.map((s) => ({
    ...s,
    extraManifest: { ...s.extraManifest, agentVersion: session.version },
  }));
}

export function claudeCodeProfile(): AgentProfile {
  return {
    name: 'claude-code',
    commands: { compact: '/compact', clear: '/clear' },
    missingRung: hasNoCommand('claude-code'),
    enterKey: 'Enter',
    probe: claudeProbe,
    sessionSet: claudeSessionSet,
    sessionId: async (pid, env) => (await claudeSession(pid, env))?.sessionId ?? null,
    resumeArgv: (argv, sessionId) =>
      sessionId === null ? null : [...withoutResume(argv), '--resume', sessionId],
    resumePrompt: /Resume from summary/i,
    resumeCommand: ({ cwd, sessionId }) =>
      sessionId === null ? null : resumeCommand({ cwd, sessionId }),
  };
}
