// Trace files for `memgov replay`: JSONL, one sample per line (docs/DESIGN.md#command-line); a decision journal
// (adapters/journal.ts) is a trace whose other records are skipped. Parsing is pure
// (`parseTraceLine`); `readLines` streams a file in fixed chunks so a week-long trace never has
// to fit in one string.
import { closeSync, openSync, readSync } from 'node:fs';
import { err, ok, type Result } from 'neverthrow';
import { quoteValue } from '../lib/quote.ts';

/** One line of a trace, in bytes and ms: the governor's Sample, by shape (adapters know no machines). */
export interface TraceSample {
  readonly t: number;
  readonly current: number;
  readonly inactiveFile: number;
  readonly limit: number;
  /** The agent's largest child subtree, when the line carries one (a journal's sample lines do). */
  readonly tool?: TraceTool;
}

/** A trace line's `tool`: `{pid, pgid, bytes, command}`, `startTicks` optional (0 when absent). */
export interface TraceTool {
  readonly pid: number;
  readonly pgid: number;
  readonly startTicks: number;
  readonly bytes: number;
  readonly command: string;
}

/** The line's `tool` when well formed, else null. */
function toolOf(value: unknown): TraceTool | null {
  if (value === null || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  const { pid, pgid, bytes, command } = v;
  const startTicks = v.startTicks ?? 0;
  if (!isByteCount(pid) || !isByteCount(pgid) || !isByteCount(bytes)) return null;
  if (!isByteCount(startTicks) || typeof command !== 'string') return null;
  return { pid, pgid, startTicks, bytes, command };
}

export interface TraceError {
  /** 1-based line number in the trace, 0 when the file itself failed. */
  readonly line: number;
  readonly detail: string;
}

export function formatTraceError(file: string, e: TraceError): string {
  return e.line === 0 ? `${file}: ${e.detail}` : `${file}:${e.line}: ${e.detail}`;
}

function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function fieldProblem(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return `"${key}" must be a number (got ${quoteValue(value)})`;
  }
  return `"${key}" must not be negative (got ${value})`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function notAnObject(text: string, line: number): TraceError {
  // Quoted: the line may hold anything (a carriage return, a colour escape) and the message is
  // printed to a terminal.
  return { line, detail: `not a JSON object: ${quoteValue(text)}` };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  const record = parseJson(text);
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return undefined;
  return record as Record<string, unknown>;
}

/** Parses a line as a JSON object (any keys): the first step of reading a trace or journal line. */
export function traceRecord(
  text: string,
  line: number,
): Result<Record<string, unknown>, TraceError> {
  const record = parseObject(text);
  return record === undefined ? err(notAnObject(text, line)) : ok(record);
}

/**
 * Reads the sample in a parsed line: `{"t","current","inactiveFile","limit"}` in bytes and ms;
 * `"usage"` may stand for `current` (then inactiveFile is 0), and a missing inactiveFile is 0.
 * Other keys are allowed (a journal's sample lines carry the decision too).
 */
export function sampleOf(
  r: Record<string, unknown>,
  line: number,
): Result<TraceSample, TraceError> {
  const hasCurrent = r.current !== undefined;
  const usageKey = hasCurrent ? 'current' : r.usage !== undefined ? 'usage' : undefined;
  if (usageKey === undefined) return err({ line, detail: 'needs "current" (or "usage") in bytes' });
  const { t, limit } = r;
  const current = r[usageKey];
  const inactiveFile = hasCurrent && r.inactiveFile !== undefined ? r.inactiveFile : 0;
  if (isByteCount(t) && isByteCount(current) && isByteCount(inactiveFile) && isByteCount(limit)) {
    if (limit <= 0) return err({ line, detail: '"limit" must be above 0' });
    if (r.tool !== undefined) return withTool({ t, current, inactiveFile, limit }, r.tool, line);
    // The common exact shape is already a TraceSample: reuse it rather than copy it.
    if (hasCurrent && r.inactiveFile !== undefined) return ok(r as unknown as TraceSample);
    return ok({ t, current, inactiveFile, limit });
  }
  const bad = (['t', usageKey, 'inactiveFile', 'limit'] as const).find(
    (key) => !isByteCount(key === 'inactiveFile' ? inactiveFile : r[key]),
  ) as string;
  return err({ line, detail: fieldProblem(r, bad) });
}

function withTool(
  sample: TraceSample,
  raw: unknown,
  line: number,
): Result<TraceSample, TraceError> {
  const tool = toolOf(raw);
  if (tool !== null) return ok({ ...sample, tool });
  const detail = `"tool" must be {"pid", "pgid", "bytes", "command"} (got ${JSON.stringify(raw)?.slice(0, 60) ?? 'nothing'})`;
  return err({ line, detail });
}

/**
 * Parses one trace line. This runs once per line of traces with millions of lines, so the valid
 * path allocates only the sample.
 */
export function parseTraceLine(text: string, line: number): Result<TraceSample, TraceError> {
  const r = parseObject(text);
  return r === undefined ? err(notAnObject(text, line)) : sampleOf(r, line);
}

/**
 * Like parseTraceLine, but null for a line to skip: a journal record other than a sample (its
 * `"kind"` is present and is not `"sample"`), so a decision journal replays as a trace.
 */
export function parseTraceEntry(
  text: string,
  line: number,
): Result<TraceSample | null, TraceError> {
  const r = parseObject(text);
  if (r === undefined) return err(notAnObject(text, line));
  if (r.kind !== undefined && r.kind !== 'sample') return ok(null);
  return sampleOf(r, line);
}

const CHUNK_BYTES = 1 << 20;

/**
 * Calls `onLine(text, lineNumber)` for every line of the file, streaming in 1 MiB chunks; stops
 * early when `onLine` returns false. A trailing empty line is not reported.
 */
export function readLines(
  path: string,
  onLine: (text: string, line: number) => boolean,
): Result<void, TraceError> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return err({ line: 0, detail: `cannot open: ${(e as Error).message}` });
  }
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let carry = '';
    let line = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      // A chunk may end inside a multi-byte character: only decode up to the last newline.
      const lastNewline = buffer.lastIndexOf(10, bytesRead - 1);
      if (lastNewline === -1) {
        carry += buffer.toString('utf8', 0, bytesRead);
        continue;
      }
      const text = carry + buffer.toString('utf8', 0, lastNewline);
      carry = buffer.toString('utf8', lastNewline + 1, bytesRead);
      let start = 0;
      for (;;) {
        const end = text.indexOf('\n', start);
        const piece = end === -1 ? text.slice(start) : text.slice(start, end);
        if (!onLine(piece, ++line)) return ok(undefined);
        if (end === -1) break;
        start = end + 1;
      }
    }
    if (carry !== '') onLine(carry, ++line);
    return ok(undefined);
  } catch (e) {
    return err({ line: 0, detail: `cannot read: ${(e as Error).message}` });
  } finally {
    closeSync(fd);
  }
}
