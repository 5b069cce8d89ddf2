// What Claude Code's files say (docs/AGENTS.md): pure parsers over the text and records that
// agents/claude-code.ts reads from disk, as adapters/cgroup/parse.ts is to its reader. The
// session file `sessions/<pid>.json` (or legacy `pid-<pid>.json`), the project directory's name,
// and the transcript records that show a command taken, a compaction finished or failed, and the
// session /clear moved to. Every parser tolerates the forms seen across versions; none throws.
import { isAbsolute } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import {
  isSafeSessionId,
  positivePid,
  procStartField,
  recordsSince,
  timeMs,
  type TranscriptRecord,
} from '../adapters/session-files.ts';
import { isRecord } from '../lib/record.ts';
import { escapeRegExp, stripAnsi } from '../lib/text.ts';
import type { Completion } from './profile.ts';

const STATUSES: ReadonlySet<string> = new Set(['idle', 'busy', 'waiting', 'shell']);
/** Claude Code's cut-off for project directory names (sessionStoragePortable.ts). */
const MAX_PROJECT_NAME = 200;
const TRANSCRIPT_NAME = /^(.+)\.jsonl$/;
const COMPACTED_STDOUT = /<local-command-stdout>\s*Compacted\b/;

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

/** What showed that a compaction finished. */
export interface CompactionEvidence {
  readonly atMs: number;
  /** boundary: `system`/`compact_boundary`; summary: `isCompactSummary`; stdout: "Compacted". */
  readonly form: 'boundary' | 'summary' | 'stdout';
  /** `manual` or `auto` when the boundary says. */
  readonly trigger: string | null;
  readonly preTokens: number | null;
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
    procStart: procStartField(parsed.procStart),
    startedAtMs: timeMs(parsed.startedAt),
    updatedAtMs: timeMs(parsed.updatedAt),
    statusUpdatedAtMs: timeMs(parsed.statusUpdatedAt),
    version: typeof parsed.version === 'string' ? parsed.version : null,
    format: current ? 'current' : 'legacy',
  });
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
  return stripAnsi(parts.join('\n'));
}

/** Records at or after `sinceMs`; sidechain (subagent) records left out: only the main conversation counts. */
function timedRecords(records: readonly TranscriptRecord[], sinceMs: number) {
  return recordsSince(records, sinceMs, (record) => record.isSidechain === true);
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

/** When the last compaction of these records finished (see findCompaction); null: none. */
export function lastCompactionAtMs(records: readonly TranscriptRecord[]): number | null {
  let lastMs: number | null = null;
  for (const { record, atMs } of timedRecords(records, Number.NEGATIVE_INFINITY)) {
    if (compactionIn(record, atMs) !== null) lastMs = atMs;
  }
  return lastMs;
}

/** Whether the main conversation holds a model answer (a session after /clear holds none). */
export function holdsConversation(records: readonly TranscriptRecord[]): boolean {
  return records.some((record) => record.type === 'assistant' && record.isSidechain !== true);
}

/** Whether a compaction finished at or after `sinceMs` (see findCompaction). */
export function compactFinishedAfter(
  records: readonly TranscriptRecord[],
  sinceMs: number,
): boolean {
  return findCompaction(records, sinceMs) !== null;
}

/**
 * Claude Code's own "no" to /compact: after a single exchange it writes "Not enough messages to
 * compact." as `<local-command-stdout>` in a `system`/`local_command` record (measured on 2.1.197;
 * with no exchange at all it is "Error: No messages to compact" on stderr, matched below).
 */
const COMPACT_REFUSED_STDOUT = /<local-command-stdout>\s*(Not enough messages to compact\.?)/;
const COMMAND_STDERR = /<local-command-stderr>([\s\S]*?)(?:<\/local-command-stderr>|$)/;

/**
 * The error or refusal a compaction reported at or after `sinceMs`, e.g. "Compaction blocked by
 * PreCompact hook: …" (`<local-command-stderr>` text that mentions compaction) or the CLI's "Not
 * enough messages to compact." on stdout. Null when there is none.
 */
export function compactFailedAfter(
  records: readonly TranscriptRecord[],
  sinceMs: number,
): string | null {
  for (const { record } of timedRecords(records, sinceMs)) {
    if (record.type !== 'user' && record.type !== 'system') continue;
    const text = recordText(record);
    const refused = COMPACT_REFUSED_STDOUT.exec(text);
    if (refused !== null) return refused[1] ?? 'Not enough messages to compact.';
    const match = COMMAND_STDERR.exec(text);
    if (match !== null && /compact/i.test(match[1] ?? ''))
      return (match[1] ?? '').trim().slice(0, 300);
  }
  return null;
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

/** Finished: a compaction record after `sinceMs`; failed: the CLI's error about it. */
export function compactCompletion(
  records: readonly TranscriptRecord[],
  sinceMs: number,
): Completion {
  const failure = compactFailedAfter(records, sinceMs);
  if (failure !== null) return { kind: 'failed', detail: `compaction failed: ${failure}` };
  const evidence = findCompaction(records, sinceMs);
  if (evidence === null) return { kind: 'pending' };
  const tokens = evidence.preTokens === null ? '' : `, ${evidence.preTokens} tokens before`;
  return { kind: 'done', detail: `compaction finished (${evidence.form}${tokens})` };
}
