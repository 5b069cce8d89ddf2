// The decision journal: an append-only JSONL file with one line per governor decision and one per
// finished action, for `memgov timeline` and `memgov replay` (docs/DESIGN.md#observability). Each line is one
// write(2) on an O_APPEND descriptor, so a kill -9 can tear at most the last line; the next writer
// starts a fresh line after a torn one, and readers skip torn lines where they tolerate them.
// Nothing is fsynced: a killed process loses nothing the kernel already has, and the journal is
// a record for people, not state the governor restores from.
//
// Rotation keeps the disk bounded: when the next line would take the live file past maxBytes,
// path.(keep-1) -> path.keep (dropping the old path.keep), ..., path.1 -> path.2, path -> path.1,
// and a new live file is started (the shift stops early at a missing number; see shiftFiles).
// Files numbered above `keep` (from an older, larger setting) are left alone.
import {
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { agentDataDir } from './config-file.ts';
import { closeQuietly, errnoCode, errnoSummary } from './errno.ts';
import { makePrivateDirectory } from './state-file.ts';
import { sampleOf, traceRecord, type TraceError } from './trace.ts';

export interface JournalOptions {
  /** Default `$AGENT_DATA/config/mem_governor_journal.jsonl`. */
  readonly path: string;
  /** Rotate when the next line would take the live file past this (default 10 MiB). */
  readonly maxBytes: number;
  /** Rotated files kept: path.1 (newest) .. path.<keep> (default 3); 0 keeps none. */
  readonly keep: number;
}

/** One per decision: each sample the governor saw. A trace line with the decision added. */
export interface JournalSampleRecord {
  readonly kind: 'sample';
  /** ms since the epoch (the sample's time). */
  readonly t: number;
  readonly current: number;
  readonly inactiveFile: number;
  readonly limit: number;
  /** Working set / limit. */
  readonly ratio: number;
  /** stateString(...) of the governor, as `replay --json` prints it. */
  readonly state: string;
  /** 0..3 */
  readonly tier: number;
  readonly action: null | 'compact' | 'clear' | 'archive-terminate' | 'stop-tool';
  readonly reason: string;
  readonly nextPollMs: number;
  /** The agent's largest child subtree at this sample, when the sampler attributed it. */
  readonly tool?: {
    readonly pid: number;
    readonly pgid: number;
    readonly bytes: number;
    readonly command: string;
  };
  /** PSI `some avg10` at the sample (percent); absent when the kernel has no PSI. */
  readonly pressureSomeAvg10Pct?: number;
}

/** One per finished action. */
export interface JournalResultRecord {
  readonly kind: 'result';
  readonly t: number;
  readonly seq: number;
  readonly action: string;
  /** ok | failed | timed-out | skipped | interrupted | superseded */
  readonly outcome: string;
  readonly durationMs: number;
  readonly detail: string | null;
}

/**
 * One per rise of the cgroup's oom_kill counter: the kernel OOM killer won a race
 * (docs/DESIGN.md, "Memory signals"). Written with the sample that saw the rise.
 */
export interface JournalOomRecord {
  readonly kind: 'oom';
  /** ms since the epoch: the sample that saw the counter rise. */
  readonly t: number;
  /** Kills in this rise (usually 1). */
  readonly kills: number;
  /** Kills the governor has counted in all (persisted across restarts). */
  readonly totalKills: number;
  /** 0..3: the tier the governor stood at when the kill was seen. */
  readonly tier: number;
  /** stateString(...) of the governor at that sample. */
  readonly state: string;
}

/** One per memgov start: which process governs, against what limit and from where it came. */
export interface JournalStartRecord {
  readonly kind: 'start';
  /** ms since the epoch. */
  readonly t: number;
  readonly pid: number;
  readonly limitBytes: number;
  /** max, high, parent or host (docs/DESIGN.md, "Memory signals"). */
  readonly limitSource: string;
}

export type JournalRecord =
  JournalSampleRecord | JournalResultRecord | JournalOomRecord | JournalStartRecord;

export interface JournalError {
  /**
   * `symlink`: the journal path is a symbolic link (never followed); `not-a-file`: something
   * other than a regular file is there; `options`: a bad JournalOptions value; `closed`: append
   * after close; `io`: the system call failed (`code` is its errno code).
   */
  readonly kind: 'io' | 'symlink' | 'not-a-file' | 'options' | 'closed';
  /** The errno code (`ENOSPC`, `EACCES`, ...) when the system reported one, else null. */
  readonly code: string | null;
  /** The file the error is about: the journal or one of its rotated siblings. */
  readonly path: string;
  readonly detail: string;
}

export interface Journal {
  /** Appends one line (one write, O_APPEND, file 0600), rotating first if the line would not fit. */
  append(record: JournalRecord): Result<void, JournalError>;
  /** Closes the file; later appends fail with kind `closed`. Idempotent; never throws. */
  close(): void;
}

export const DEFAULT_JOURNAL_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_JOURNAL_KEEP = 3;
const MAX_KEEP = 1000;

/** The journal settings when nothing is configured: under $AGENT_DATA, beside the state file. */
export function defaultJournalOptions(
  env: Readonly<Record<string, string | undefined>>,
): JournalOptions {
  return {
    path: join(agentDataDir(env), 'config', 'mem_governor_journal.jsonl'),
    maxBytes: DEFAULT_JOURNAL_MAX_BYTES,
    keep: DEFAULT_JOURNAL_KEEP,
  };
}

export function formatJournalError(error: JournalError): string {
  return `${error.path}: ${error.detail}`;
}

function ioError(path: string, what: string, error: unknown): JournalError {
  return {
    kind: 'io',
    code: errnoCode(error) ?? null,
    path,
    detail: `${what}: ${errnoSummary(error)}`,
  };
}

function symlinkError(path: string): JournalError {
  return {
    kind: 'symlink',
    code: 'ELOOP',
    path,
    detail: 'is a symbolic link; refusing to write the journal through it',
  };
}

function optionsProblem(options: JournalOptions): string | null {
  if (typeof options.path !== 'string' || options.path === '') return 'path must not be empty';
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1) {
    return `maxBytes must be a whole number of bytes above 0 (got ${String(options.maxBytes)})`;
  }
  if (!Number.isSafeInteger(options.keep) || options.keep < 0 || options.keep > MAX_KEEP) {
    return `keep must be a whole number from 0 to ${MAX_KEEP} (got ${String(options.keep)})`;
  }
  return null;
}

// Read and write: reading the last byte tells whether a crash left a torn line to step over.
// (libuv adds O_CLOEXEC itself: an agent memgov launches never inherits the descriptor.)
const OPEN_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

interface LiveFile {
  readonly fd: number;
  /** The file does not end with a newline (a torn line): the next write starts a new one. */
  readonly torn: boolean;
}

function openLive(path: string): Result<LiveFile, JournalError> {
  try {
    const existing = lstatSync(path, { throwIfNoEntry: false });
    if (existing?.isSymbolicLink() === true) return err(symlinkError(path));
    if (existing !== undefined && !existing.isFile()) {
      return err({ kind: 'not-a-file', code: null, path, detail: 'is not a regular file' });
    }
  } catch (error) {
    return err(ioError(path, 'cannot inspect the journal', error));
  }
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS, 0o600);
  } catch (error) {
    const code = errnoCode(error);
    // A link planted between the lstat and the open.
    if (code === 'ELOOP') return err(symlinkError(path));
    if (code !== 'ENOENT') return err(ioError(path, 'cannot open the journal', error));
    try {
      makePrivateDirectory(dirname(path));
      fd = openSync(path, OPEN_FLAGS, 0o600);
    } catch (retryError) {
      if (errnoCode(retryError) === 'ELOOP') return err(symlinkError(path));
      return err(ioError(path, 'cannot create the journal', retryError));
    }
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeQuietly(fd);
      return err({ kind: 'not-a-file', code: null, path, detail: 'is not a regular file' });
    }
    // Exactly 0600 whatever the umask, and also for a file an older run created otherwise.
    fchmodSync(fd, 0o600);
    let torn = false;
    if (stat.size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, stat.size - 1);
      torn = last[0] !== 10;
    }
    return ok({ fd, torn });
  } catch (error) {
    closeQuietly(fd);
    return err(ioError(path, 'cannot prepare the journal', error));
  }
}

function renameIfPresent(from: string, to: string): Result<void, JournalError> {
  try {
    renameSync(from, to);
    return ok(undefined);
  } catch (error) {
    return errnoCode(error) === 'ENOENT'
      ? ok(undefined)
      : err(ioError(from, `cannot rotate to ${to}`, error));
  }
}

/**
 * Moves the live file to path.1, first shifting path.1, path.2, ... up by one as far as the first
 * free number (or path.<keep>, which the move replaces: the oldest is dropped). Stopping at a free
 * number makes a retry after a failure part way harmless: the files already moved left a gap, so
 * nothing is shifted twice and no file is dropped for it. keep 0 drops the live file.
 */
function shiftFiles(path: string, keep: number): Result<void, JournalError> {
  if (keep === 0) {
    try {
      unlinkSync(path);
      return ok(undefined);
    } catch (error) {
      return errnoCode(error) === 'ENOENT'
        ? ok(undefined)
        : err(ioError(path, 'cannot drop the full journal', error));
    }
  }
  let free = 1;
  try {
    while (free < keep && lstatSync(`${path}.${free}`, { throwIfNoEntry: false }) !== undefined) {
      free++;
    }
  } catch (error) {
    return err(ioError(`${path}.${free}`, 'cannot inspect the rotated journal', error));
  }
  for (let k = free - 1; k >= 1; k--) {
    const moved = renameIfPresent(`${path}.${k}`, `${path}.${k + 1}`);
    if (moved.isErr()) return moved;
  }
  return renameIfPresent(path, `${path}.1`);
}

export function openJournal(options: JournalOptions): Result<Journal, JournalError> {
  const problem = optionsProblem(options);
  if (problem !== null) {
    return err({ kind: 'options', code: null, path: String(options.path), detail: problem });
  }
  const { path, maxBytes, keep } = options;
  const opened = openLive(path);
  if (opened.isErr()) return err(opened.error);
  let fd: number | null = opened.value.fd;
  let torn = opened.value.torn;

  const reopen = (): Result<void, JournalError> => {
    const reopened = openLive(path);
    if (reopened.isErr()) return err(reopened.error);
    ({ fd, torn } = reopened.value);
    return ok(undefined);
  };

  const rotate = (): Result<void, JournalError> => {
    // rename(2) would move a planted link aside harmlessly, but a link there is refused, loudly.
    try {
      if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true) {
        return err(symlinkError(path));
      }
    } catch (error) {
      return err(ioError(path, 'cannot inspect the journal', error));
    }
    // The open descriptor follows its file through the renames: on a failure it stays usable.
    const shifted = shiftFiles(path, keep);
    if (shifted.isErr()) return shifted;
    if (fd !== null) closeQuietly(fd);
    fd = null;
    return reopen();
  };

  let closed = false;
  return ok({
    append(record) {
      if (closed) {
        return err({ kind: 'closed', code: null, path, detail: 'the journal is closed' });
      }
      // The files were rotated but the new live file could not be opened: try again now.
      if (fd === null) {
        const reopened = reopen();
        if (reopened.isErr()) return reopened;
      }
      let line: string;
      try {
        line = JSON.stringify(record) + '\n';
      } catch (error) {
        return err(ioError(path, 'cannot serialise the record', error));
      }
      const body = Buffer.from(line, 'utf8');
      try {
        const sizeBytes = fstatSync(fd as number).size;
        // An empty file takes any line, however long: otherwise it could never be written.
        if (sizeBytes > 0 && sizeBytes + body.length + (torn ? 1 : 0) > maxBytes) {
          const rotated = rotate();
          if (rotated.isErr()) return rotated;
        }
      } catch (error) {
        return err(ioError(path, 'cannot read the journal size', error));
      }
      const bytes = torn ? Buffer.concat([Buffer.from('\n'), body]) : body;
      let written: number;
      try {
        written = writeSync(fd as number, bytes);
      } catch (error) {
        // Whether part of it landed is unknown: start the next line afresh to be safe (an empty
        // line at worst, which readers skip).
        torn = true;
        return err(ioError(path, 'cannot append to the journal', error));
      }
      if (written < bytes.length) {
        torn = true;
        return err({
          kind: 'io',
          code: null,
          path,
          detail: `short write: ${written} of ${bytes.length} bytes (is the disk full?)`,
        });
      }
      torn = false;
      return ok(undefined);
    },
    close() {
      if (closed) return;
      closed = true;
      if (fd !== null) closeQuietly(fd);
      fd = null;
    },
  });
}

/** One journal line as read back. */
export type JournalLine =
  | { readonly kind: 'sample'; readonly record: JournalSampleRecord }
  | { readonly kind: 'result'; readonly record: JournalResultRecord }
  | { readonly kind: 'oom'; readonly record: JournalOomRecord }
  | { readonly kind: 'start'; readonly record: JournalStartRecord }
  /** A line a crash cut short (JSON that ends early), which tolerant readers skip. */
  | { readonly kind: 'torn' }
  /** A record of a kind this memgov does not know (a newer writer): skipped. */
  | { readonly kind: 'other'; readonly name: string }
  | { readonly kind: 'blank' };

const ACTIONS: ReadonlySet<unknown> = new Set([
  'compact',
  'clear',
  'archive-terminate',
  'stop-tool',
]);

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isTier(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 3;
}

function sampleProblem(r: Record<string, unknown>): string | null {
  if (!isCount(r.ratio)) return `"ratio" must be a number, 0 or more (got ${describe(r.ratio)})`;
  if (typeof r.state !== 'string') return `"state" must be a string (got ${describe(r.state)})`;
  if (!isTier(r.tier)) return `"tier" must be 0, 1, 2 or 3 (got ${describe(r.tier)})`;
  if (r.action !== null && !ACTIONS.has(r.action)) {
    return `"action" must be null, "compact", "clear", "archive-terminate" or "stop-tool" (got ${describe(r.action)})`;
  }
  if (typeof r.reason !== 'string') return `"reason" must be a string (got ${describe(r.reason)})`;
  if (!isCount(r.nextPollMs)) {
    return `"nextPollMs" must be a number, 0 or more (got ${describe(r.nextPollMs)})`;
  }
  const pressure = r.pressureSomeAvg10Pct;
  if (pressure !== undefined && !(isCount(pressure) && pressure <= 100)) {
    return `"pressureSomeAvg10Pct" must be a percentage, 0 to 100 (got ${describe(pressure)})`;
  }
  return null;
}

function resultProblem(r: Record<string, unknown>): string | null {
  if (!isCount(r.t)) return `"t" must be a number, 0 or more (got ${describe(r.t)})`;
  if (typeof r.seq !== 'number' || !Number.isFinite(r.seq)) {
    return `"seq" must be a number (got ${describe(r.seq)})`;
  }
  if (typeof r.action !== 'string') return `"action" must be a string (got ${describe(r.action)})`;
  if (typeof r.outcome !== 'string') {
    return `"outcome" must be a string (got ${describe(r.outcome)})`;
  }
  if (!isCount(r.durationMs)) {
    return `"durationMs" must be a number, 0 or more (got ${describe(r.durationMs)})`;
  }
  if (r.detail !== null && typeof r.detail !== 'string') {
    return `"detail" must be a string or null (got ${describe(r.detail)})`;
  }
  return null;
}

function oomProblem(r: Record<string, unknown>): string | null {
  if (!isCount(r.t)) return `"t" must be a number, 0 or more (got ${describe(r.t)})`;
  if (!isCount(r.kills)) return `"kills" must be a number, 0 or more (got ${describe(r.kills)})`;
  if (!isCount(r.totalKills)) {
    return `"totalKills" must be a number, 0 or more (got ${describe(r.totalKills)})`;
  }
  if (!isTier(r.tier)) return `"tier" must be 0, 1, 2 or 3 (got ${describe(r.tier)})`;
  if (typeof r.state !== 'string') return `"state" must be a string (got ${describe(r.state)})`;
  return null;
}

function startProblem(r: Record<string, unknown>): string | null {
  if (!isCount(r.t)) return `"t" must be a number, 0 or more (got ${describe(r.t)})`;
  if (!isCount(r.pid)) return `"pid" must be a number, 0 or more (got ${describe(r.pid)})`;
  if (!isCount(r.limitBytes)) {
    return `"limitBytes" must be a number, 0 or more (got ${describe(r.limitBytes)})`;
  }
  if (typeof r.limitSource !== 'string') {
    return `"limitSource" must be a string (got ${describe(r.limitSource)})`;
  }
  return null;
}

/**
 * Parses one journal line. Torn lines (a JSON object cut short) come back as `torn`, not as an
 * error, so the caller decides whether to tolerate them; anything else malformed is an error
 * naming the line and the field.
 */
export function parseJournalLine(text: string, line: number): Result<JournalLine, TraceError> {
  if (text.trim() === '') return ok({ kind: 'blank' });
  const parsed = traceRecord(text, line);
  if (parsed.isErr()) {
    const trimmed = text.trimEnd();
    // A prefix of a JSON object never ends in its closing brace: a cut line, not a bad one.
    return trimmed.startsWith('{') && !trimmed.endsWith('}')
      ? ok({ kind: 'torn' })
      : err(parsed.error);
  }
  const r = parsed.value;
  if (r.kind === 'sample') {
    const trace = sampleOf(r, line);
    if (trace.isErr()) return err(trace.error);
    const problem = sampleProblem(r);
    if (problem !== null) return err({ line, detail: problem });
    return ok({ kind: 'sample', record: r as unknown as JournalSampleRecord });
  }
  if (r.kind === 'result') {
    const problem = resultProblem(r);
    if (problem !== null) return err({ line, detail: problem });
    return ok({ kind: 'result', record: r as unknown as JournalResultRecord });
  }
  if (r.kind === 'oom') {
    const problem = oomProblem(r);
    if (problem !== null) return err({ line, detail: problem });
    return ok({ kind: 'oom', record: r as unknown as JournalOomRecord });
  }
  if (r.kind === 'start') {
    const problem = startProblem(r);
    if (problem !== null) return err({ line, detail: problem });
    return ok({ kind: 'start', record: r as unknown as JournalStartRecord });
  }
  if (typeof r.kind === 'string') return ok({ kind: 'other', name: r.kind });
  return err({
    line,
    detail:
      r.kind === undefined
        ? 'not a journal line: no "kind" (a plain trace? use memgov replay TRACE --html OUT)'
        : `"kind" must be a string (got ${describe(r.kind)})`,
  });
}
