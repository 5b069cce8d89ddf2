// Where Codex CLI keeps its sessions and what its rollout records say (docs/AGENTS.md). Sessions:
// `$CODEX_HOME` (default ~/.codex) `/sessions/YYYY/MM/DD/rollout-<ts>-<uuidv7>.jsonl`, first line
// `{"type":"session_meta","payload":{"id","cwd",...}}` (older: `{"id",...}` at the top level). A
// resumed session appends to its old file. Measured on 0.171.0: the process holds
// `thread-writer-locks/<id>.lock` open for each thread it started (the ids are UUIDv7, so they
// sort by creation time), and `/new` makes a new thread (and its lock) at once while its rollout
// appears only with the first message. A turn is `event_msg` `task_started` ... `task_complete`
// (or `turn_aborted`), the start written as the turn begins; a compaction adds a `compacted` record.
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { readOpenPaths } from '../adapters/proc.ts';
import {
  homeOf,
  listDir,
  nonEmpty,
  readHead,
  readTranscriptTail,
  stringField,
  timeMs,
  type Env,
  type SessionFileError,
  type TranscriptRecord,
} from '../adapters/session-files.ts';
import { isRecord } from '../lib/record.ts';
import type { AgentSessionFile } from './terminal.ts';

/** Up to this much of a rollout is read to find its first record. */
const HEAD_BYTES = 64 * 1024;
/** Rollout files looked at, newest names first, before giving up. */
const DEFAULT_CODEX_SCAN = 200;
const UUID = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/;
const ROLLOUT =
  /^rollout-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2})-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.jsonl$/;

/** `$CODEX_HOME`, else `$HOME/.codex`. */
export function codexHome(env: Env): string {
  return nonEmpty(env.CODEX_HOME) ? env.CODEX_HOME : join(homeOf(env), '.codex');
}

/** `rollout-2025-05-07T17-24-21-<uuid>.jsonl` → its time text and session id; else null. */
export function parseRolloutName(name: string): { timestamp: string; id: string } | null {
  const match = ROLLOUT.exec(name);
  return match === null ? null : { timestamp: match[1] ?? '', id: (match[2] ?? '').toLowerCase() };
}

/**
 * The id and cwd in a rollout's first line: `session_meta` with a `payload` (current), or the
 * fields at the top level (older). The line may be cut short (instructions make it long): fields
 * are then found by pattern. Never throws.
 */
export function parseCodexMeta(head: string): { id: string | null; cwd: string | null } {
  const newline = head.indexOf('\n');
  const line = newline === -1 ? head : head.slice(0, newline);
  try {
    const value: unknown = JSON.parse(line);
    if (isRecord(value)) {
      const meta = isRecord(value.payload) ? value.payload : value;
      return {
        id: typeof meta.id === 'string' ? meta.id : null,
        cwd: typeof meta.cwd === 'string' ? meta.cwd : null,
      };
    }
  } catch {
    // cut short: fall through to the patterns
  }
  return { id: stringField(line, 'id'), cwd: stringField(line, 'cwd') };
}

/** The names in `dir` matching `pattern`, newest first: directories, or with `files` regular files. */
async function newestNames(
  dir: string,
  pattern: RegExp,
  files = false,
): Promise<Result<string[], SessionFileError>> {
  return (await listDir(dir)).map((entries) =>
    entries
      .filter((e) => (files ? e.isFile() : e.isDirectory()) && pattern.test(e.name))
      .map((e) => e.name)
      .sort()
      .reverse(),
  );
}

/** Rollout files under `sessions/`, newest names first (the date directories, then the name). */
async function rolloutFiles(
  root: string,
  limit: number,
): Promise<Result<string[], SessionFileError>> {
  const found: string[] = [];
  const years = await newestNames(root, /^\d{4}$/);
  if (years.isErr()) return err(years.error);
  for (const year of years.value) {
    const months = await newestNames(join(root, year), /^\d{2}$/);
    if (months.isErr()) return err(months.error);
    for (const month of months.value) {
      const days = await newestNames(join(root, year, month), /^\d{2}$/);
      if (days.isErr()) return err(days.error);
      for (const day of days.value) {
        const dir = join(root, year, month, day);
        const names = await newestNames(dir, ROLLOUT, true);
        if (names.isErr()) return err(names.error);
        for (const name of names.value) {
          found.push(join(dir, name));
          if (found.length >= limit) return ok(found);
        }
      }
    }
  }
  return ok(found);
}

/**
 * The Codex session in use: among the newest `scanFiles` rollouts (by name), the most recently
 * written one whose first record names `cwd` (any cwd when not given). Null when there is none.
 */
export async function findCodexSession(
  env: Env,
  options: { readonly cwd?: string; readonly scanFiles?: number } = {},
): Promise<Result<AgentSessionFile | null, SessionFileError>> {
  const files = await rolloutFiles(
    join(codexHome(env), 'sessions'),
    options.scanFiles ?? DEFAULT_CODEX_SCAN,
  );
  if (files.isErr()) return err(files.error);
  const timed: { path: string; mtimeMs: number }[] = [];
  for (const path of files.value) {
    const found = await stat(path).catch(() => undefined);
    if (found?.isFile() === true) timed.push({ path, mtimeMs: found.mtimeMs });
  }
  timed.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.path < b.path ? 1 : -1));
  for (const { path, mtimeMs } of timed) {
    const meta = parseCodexMeta((await readHead(path, HEAD_BYTES)) ?? '');
    if (options.cwd !== undefined && meta.cwd !== options.cwd) continue;
    const name = path.slice(path.lastIndexOf('/') + 1);
    const sessionId = meta.id ?? parseRolloutName(name)?.id ?? null;
    return ok({ profile: 'codex', sessionId, cwd: meta.cwd ?? options.cwd ?? '', path, mtimeMs });
  }
  return ok(null);
}

/** Enough of a rollout's end for its last turns (a big reply is a few hundred KB). */
export const ROLLOUT_TAIL_BYTES = 4 * 1024 * 1024;
const LOCK = new RegExp(`/thread-writer-locks/(${UUID.source})\\.lock$`);

/**
 * The threads process `pid` started, from the files it holds open: each
 * `thread-writer-locks/<id>.lock` under `$CODEX_HOME`, oldest first (UUIDv7 order). Empty when
 * it holds none (another version, or not Codex): callers then fall back to the pane.
 */
export async function openThreads(pid: number, env: Env): Promise<string[]> {
  const paths = await readOpenPaths(pid);
  if (paths.isErr()) return [];
  const root = codexHome(env);
  const ids = paths.value.flatMap((path) => {
    const match = path.startsWith(`${root}/`) ? LOCK.exec(path) : null;
    return match?.[1] === undefined ? [] : [match[1].toLowerCase()];
  });
  return [...new Set(ids)].sort();
}

/** The thread the process works in now: the newest it started (a /new makes one at once). */
export async function currentThread(pid: number, env: Env): Promise<string | null> {
  return (await openThreads(pid, env)).at(-1) ?? null;
}

/** The rollout file of thread `id`; null when there is none yet (a /new before its first message). */
export async function rolloutPathOf(env: Env, id: string): Promise<string | null> {
  const files = await rolloutFiles(join(codexHome(env), 'sessions'), DEFAULT_CODEX_SCAN);
  if (files.isErr()) return null;
  return files.value.find((path) => parseRolloutName(basename(path))?.id === id) ?? null;
}

/** The records at the end of thread `id`'s rollout; null when it has none or it cannot be read. */
export async function rolloutRecords(env: Env, id: string): Promise<TranscriptRecord[] | null> {
  const path = await rolloutPathOf(env, id);
  if (path === null) return null;
  const tail = await readTranscriptTail(path, ROLLOUT_TAIL_BYTES);
  return tail.isOk() ? [...tail.value.records] : null;
}

/** The `payload.type` of an `event_msg` record, else null. */
function eventType(record: TranscriptRecord): string | null {
  if (record.type !== 'event_msg' || !isRecord(record.payload)) return null;
  return typeof record.payload.type === 'string' ? record.payload.type : null;
}

const TURN_ENDS = new Set(['task_complete', 'turn_aborted']);

/**
 * The time of the last `task_started` that no `task_complete` / `turn_aborted` followed: a turn
 * (an answer streaming, a compaction) is running. Null when none is open.
 */
export function openTurnAtMs(records: readonly TranscriptRecord[]): number | null {
  let openAtMs: number | null = null;
  for (const record of records) {
    const type = eventType(record);
    if (type === 'task_started') openAtMs = timeMs(record.timestamp) ?? Number.NEGATIVE_INFINITY;
    else if (type !== null && TURN_ENDS.has(type)) openAtMs = null;
  }
  return openAtMs;
}

/**
 * The first turn begun at or after `sinceMs` (the typed command's): whether it began, ended,
 * was aborted, and whether a compaction landed in it. A turn already running at `sinceMs` (an
 * answer still streaming when the probe was built) is not it.
 */
export function turnsSince(records: readonly TranscriptRecord[], sinceMs: number) {
  const begun = records.findIndex(
    (r) =>
      eventType(r) === 'task_started' &&
      (timeMs(r.timestamp) ?? Number.NEGATIVE_INFINITY) >= sinceMs,
  );
  const turn = begun === -1 ? [] : records.slice(begun);
  const types = turn.map((r) => eventType(r));
  return {
    started: begun !== -1,
    ended: types.some((t) => t !== null && TURN_ENDS.has(t)),
    aborted: types.includes('turn_aborted'),
    compacted: turn.some((r) => r.type === 'compacted'),
  };
}

/** The time of the last `compacted` record; null when there is none. */
export function lastCompactedAtMs(records: readonly TranscriptRecord[]): number | null {
  const found = records.filter((r) => r.type === 'compacted').at(-1);
  return found === undefined ? null : timeMs(found.timestamp);
}

/** Whether the rollout holds a model answer (an assistant message). */
export function holdsAnswer(records: readonly TranscriptRecord[]): boolean {
  return records.some(
    (r) => r.type === 'response_item' && isRecord(r.payload) && r.payload.role === 'assistant',
  );
}
