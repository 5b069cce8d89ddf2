// The decision journal on a real filesystem: exact rotation boundaries, the number of rotated files
// kept, mode bits whatever the umask, symbolic links refused, torn lines stepped over, and a
// written journal read back by `memgov replay` as the trace it records.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  defaultJournalOptions,
  formatJournalError,
  openJournal,
  parseJournalLine,
  type Journal,
  type JournalOptions,
  type JournalResultRecord,
  type JournalSampleRecord,
} from '../../adapters/journal.ts';
import { parseTraceEntry, parseTraceLine } from '../../adapters/trace.ts';
import { runBundle, traceOf } from '../support/cli.ts';
import { journalSample, LIMIT_BYTES } from './journal-records.ts';

let dir: string;
const journals: Journal[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'memgov-journal-'));
});

afterEach(() => {
  for (const journal of journals.splice(0)) journal.close();
  rmSync(dir, { recursive: true, force: true });
});

function opened(options: Partial<JournalOptions> = {}): Journal {
  const journal = openJournal({
    path: join(dir, 'journal.jsonl'),
    maxBytes: 1 << 20,
    keep: 3,
    ...options,
  })._unsafeUnwrap();
  journals.push(journal);
  return journal;
}

function sample(t: number, ratio = 0.5): JournalSampleRecord {
  return journalSample(t, ratio);
}

function result(t: number, seq: number): JournalResultRecord {
  return {
    kind: 'result',
    t,
    seq,
    action: 'compact',
    outcome: 'ok',
    durationMs: 1200,
    detail: null,
  };
}

/** Bytes of the line the journal writes for a record. */
function lineBytes(record: object): number {
  return Buffer.byteLength(JSON.stringify(record) + '\n');
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

describe('openJournal and append', () => {
  it('appends one JSON line per record, in order, and keeps what was there', () => {
    const path = join(dir, 'journal.jsonl');
    writeFileSync(path, `${JSON.stringify(sample(1))}\n`);
    const journal = opened();
    expect(journal.append(sample(2)).isOk()).toBe(true);
    expect(journal.append(result(3, 1)).isOk()).toBe(true);
    expect(lines(path).map((line) => (JSON.parse(line) as { t: number }).t)).toEqual([1, 2, 3]);
    expect(JSON.parse(lines(path)[2] as string)).toEqual(result(3, 1));
  });

  it('rotates exactly when the next line would pass maxBytes, not before', () => {
    const path = join(dir, 'journal.jsonl');
    // Records of equal length: t values of the same digit count.
    const bytes = lineBytes(sample(1000));
    const journal = opened({ maxBytes: 3 * bytes });
    for (const t of [1000, 1001, 1002]) journal.append(sample(t))._unsafeUnwrap();
    // Exactly full: three lines fit in 3 × bytes.
    expect(statSync(path).size).toBe(3 * bytes);
    expect(existsSync(`${path}.1`)).toBe(false);
    journal.append(sample(1003))._unsafeUnwrap();
    expect(statSync(`${path}.1`).size).toBe(3 * bytes);
    expect(lines(path)).toEqual([JSON.stringify(sample(1003))]);

    // One byte less room: the third line already rotates.
    const other = opened({ path: join(dir, 'other.jsonl'), maxBytes: 3 * bytes - 1 });
    for (const t of [1000, 1001, 1002]) other.append(sample(t))._unsafeUnwrap();
    expect(lines(join(dir, 'other.jsonl.1'))).toHaveLength(2);
    expect(lines(join(dir, 'other.jsonl'))).toHaveLength(1);
  });

  it('keeps path.1 (newest) to path.<keep> and drops older ones', () => {
    const path = join(dir, 'journal.jsonl');
    const journal = opened({ maxBytes: lineBytes(sample(1000)), keep: 2 });
    // One line per file: each append after the first rotates.
    for (let t = 1000; t < 1006; t++) journal.append(sample(t))._unsafeUnwrap();
    const tOf = (file: string) => lines(file).map((line) => (JSON.parse(line) as { t: number }).t);
    expect(tOf(path)).toEqual([1005]);
    expect(tOf(`${path}.1`)).toEqual([1004]);
    expect(tOf(`${path}.2`)).toEqual([1003]);
    expect(existsSync(`${path}.3`)).toBe(false);
  });

  it('shifts only up to a missing number, so a retried rotation drops nothing', () => {
    const path = join(dir, 'journal.jsonl');
    // What a rotation that failed after its first two renames leaves: path.1 is missing.
    writeFileSync(`${path}.2`, 'newer\n');
    writeFileSync(`${path}.3`, 'older\n');
    writeFileSync(path, `${JSON.stringify(sample(1000))}\n`);
    const journal = opened({ maxBytes: lineBytes(sample(1000)), keep: 3 });
    journal.append(sample(1001))._unsafeUnwrap();
    expect(lines(`${path}.1`)).toEqual([JSON.stringify(sample(1000))]);
    expect(readFileSync(`${path}.2`, 'utf8')).toBe('newer\n');
    expect(readFileSync(`${path}.3`, 'utf8')).toBe('older\n');
    expect(lines(path)).toEqual([JSON.stringify(sample(1001))]);
  });

  it('reports a failed rotation, keeps the live file, and rotates on a later append', () => {
    const path = join(dir, 'journal.jsonl');
    // rename(2) cannot replace a non-empty directory.
    mkdirSync(`${path}.1`);
    writeFileSync(join(`${path}.1`, 'x'), '');
    const journal = opened({ maxBytes: lineBytes(sample(1000)), keep: 1 });
    journal.append(sample(1000))._unsafeUnwrap();
    const error = journal.append(sample(1001))._unsafeUnwrapErr();
    expect(error).toMatchObject({ kind: 'io', path });
    expect(error.code === 'EISDIR' || error.code === 'ENOTEMPTY').toBe(true);
    expect(formatJournalError(error)).toContain(`cannot rotate to ${path}.1`);
    expect(lines(path)).toEqual([JSON.stringify(sample(1000))]);
    rmSync(`${path}.1`, { recursive: true });
    journal.append(sample(1002))._unsafeUnwrap();
    expect(lines(`${path}.1`)).toEqual([JSON.stringify(sample(1000))]);
    expect(lines(path)).toEqual([JSON.stringify(sample(1002))]);
  });

  it('with keep 0 starts the live file over and leaves no rotated file', () => {
    const path = join(dir, 'journal.jsonl');
    const journal = opened({ maxBytes: lineBytes(sample(1000)), keep: 0 });
    for (let t = 1000; t < 1004; t++) journal.append(sample(t))._unsafeUnwrap();
    expect(lines(path)).toEqual([JSON.stringify(sample(1003))]);
    expect(existsSync(`${path}.1`)).toBe(false);
  });

  it('writes a line longer than maxBytes into an empty file rather than lose it', () => {
    const path = join(dir, 'journal.jsonl');
    const journal = opened({ maxBytes: 10 });
    journal.append(sample(1))._unsafeUnwrap();
    expect(lines(path)).toEqual([JSON.stringify(sample(1))]);
    journal.append(sample(2))._unsafeUnwrap();
    expect(lines(`${path}.1`)).toEqual([JSON.stringify(sample(1))]);
    expect(lines(path)).toEqual([JSON.stringify(sample(2))]);
  });

  it('creates the file 0600 and missing directories 0700 whatever the umask', () => {
    const previous = process.umask(0);
    try {
      const path = join(dir, 'a', 'b', 'journal.jsonl');
      const journal = opened({ path, maxBytes: lineBytes(sample(1000)) });
      journal.append(sample(1000))._unsafeUnwrap();
      journal.append(sample(1001))._unsafeUnwrap(); // rotated: the new live file too
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}.1`).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'a', 'b')).mode & 0o777).toBe(0o700);
    } finally {
      process.umask(previous);
    }
  });

  it('narrows an existing file to 0600', () => {
    const path = join(dir, 'journal.jsonl');
    writeFileSync(path, '', { mode: 0o644 });
    opened();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('refuses a symbolic link at the journal path, at open and at rotation', () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'precious\n');
    const path = join(dir, 'journal.jsonl');
    symlinkSync(target, path);
    const refused = openJournal({ path, maxBytes: 100, keep: 1 })._unsafeUnwrapErr();
    expect(refused).toMatchObject({ kind: 'symlink', path });
    expect(formatJournalError(refused)).toBe(
      `${path}: is a symbolic link; refusing to write the journal through it`,
    );
    expect(readFileSync(target, 'utf8')).toBe('precious\n');

    // A link planted while the journal is open is refused when rotation reopens the path.
    rmSync(path);
    const journal = opened({ path, maxBytes: lineBytes(sample(1000)), keep: 1 });
    journal.append(sample(1000))._unsafeUnwrap();
    rmSync(path);
    symlinkSync(target, path);
    writeFileSync(`${path}.1`, '');
    expect(journal.append(sample(1001))._unsafeUnwrapErr()).toMatchObject({ kind: 'symlink' });
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
  });

  it('names the path and the errno code when the journal cannot be created', () => {
    writeFileSync(join(dir, 'file'), '');
    const path = join(dir, 'file', 'journal.jsonl');
    const error = openJournal({ path, maxBytes: 100, keep: 1 })._unsafeUnwrapErr();
    expect(error).toMatchObject({ kind: 'io', code: 'ENOTDIR', path });
    expect(formatJournalError(error)).toMatch(
      /journal\.jsonl: cannot inspect the journal: ENOTDIR/,
    );
    mkdirSync(join(dir, 'adir'));
    expect(
      openJournal({ path: join(dir, 'adir'), maxBytes: 100, keep: 1 })._unsafeUnwrapErr(),
    ).toMatchObject({ kind: 'not-a-file' });
  });

  it.each([
    [{ maxBytes: 0 }, 'maxBytes must be a whole number of bytes above 0 (got 0)'],
    [{ maxBytes: 1.5 }, 'maxBytes must be a whole number of bytes above 0 (got 1.5)'],
    [{ keep: -1 }, 'keep must be a whole number from 0 to 1000 (got -1)'],
    [{ path: '' }, 'path must not be empty'],
  ])('rejects bad options %o', (bad, detail) => {
    const options = { path: join(dir, 'j'), maxBytes: 100, keep: 1, ...bad };
    expect(openJournal(options)._unsafeUnwrapErr()).toMatchObject({ kind: 'options', detail });
  });

  it('fails appends after close, and close twice is harmless', () => {
    const journal = opened();
    journal.close();
    journal.close();
    expect(journal.append(sample(1))._unsafeUnwrapErr()).toMatchObject({ kind: 'closed' });
  });

  it('defaults to $AGENT_DATA/config/mem_governor_journal.jsonl, 10 MiB, 3 kept', () => {
    expect(defaultJournalOptions({ AGENT_DATA: '/data' })).toEqual({
      path: '/data/config/mem_governor_journal.jsonl',
      maxBytes: 10 * 1024 * 1024,
      keep: 3,
    });
  });
});

describe('torn lines', () => {
  it('starts a new line after a torn last line, which the reader reports as torn', () => {
    const path = join(dir, 'journal.jsonl');
    const whole = JSON.stringify(sample(1));
    // What a kill -9 in the middle of a write leaves: a line cut short, no newline.
    writeFileSync(path, `${whole}\n${JSON.stringify(sample(2)).slice(0, 30)}`);
    opened().append(sample(3))._unsafeUnwrap();
    const read = lines(path).map((text, i) => parseJournalLine(text, i + 1)._unsafeUnwrap().kind);
    expect(read).toEqual(['sample', 'torn', 'sample']);
  });

  it('does not take a complete but garbled line for a torn one', () => {
    expect(parseJournalLine('{"kind":"sample",}', 4)._unsafeUnwrapErr().line).toBe(4);
    expect(parseJournalLine('{"kind":"sample","t":1,"cur', 4)._unsafeUnwrap()).toEqual({
      kind: 'torn',
    });
  });
});

describe('reading journal lines', () => {
  it('reads samples and results back as written; skips blank lines and unknown kinds', () => {
    expect(parseJournalLine(JSON.stringify(sample(5)), 1)._unsafeUnwrap()).toEqual({
      kind: 'sample',
      record: sample(5),
    });
    expect(parseJournalLine(JSON.stringify(result(6, 2)), 2)._unsafeUnwrap()).toEqual({
      kind: 'result',
      record: result(6, 2),
    });
    const oom = { kind: 'oom', t: 7, kills: 1, totalKills: 2, tier: 1, state: 'ladder.compacted' };
    expect(parseJournalLine(JSON.stringify(oom), 3)._unsafeUnwrap()).toEqual({
      kind: 'oom',
      record: oom,
    });
    expect(parseJournalLine('  ', 3)._unsafeUnwrap().kind).toBe('blank');
    expect(parseJournalLine('{"kind":"heartbeat","t":1}', 3)._unsafeUnwrap()).toEqual({
      kind: 'other',
      name: 'heartbeat',
    });
  });

  it.each([
    [{ ...sample(1), ratio: 'high' }, '"ratio" must be a number, 0 or more (got "high")'],
    [{ ...sample(1), tier: 4 }, '"tier" must be 0, 1, 2 or 3 (got 4)'],
    [
      { ...sample(1), action: 'reboot' },
      '"action" must be null, "compact", "clear", "archive-terminate" or "stop-tool"',
    ],
    [{ ...sample(1), nextPollMs: -1 }, '"nextPollMs" must be a number, 0 or more (got -1)'],
    [{ ...sample(1), current: 'lots' }, '"current" must be a number (got "lots")'],
    [{ ...sample(1), pressureSomeAvg10Pct: 101 }, '"pressureSomeAvg10Pct" must be a percentage'],
    [
      { ...sample(1), tool: { pid: 9, pgid: 9, bytes: '1G', command: 'make' } },
      '"tool" must be {"pid", "pgid", "bytes", "command"}',
    ],
    [{ ...result(1, 1), outcome: 3 }, '"outcome" must be a string (got 3)'],
    [{ ...result(1, 1), detail: {} }, '"detail" must be a string or null (got {})'],
    [{ kind: 'oom', t: 1, kills: 1, totalKills: 1, tier: 5, state: '' }, '"tier" must be 0, 1, 2'],
    [
      { kind: 'oom', t: 1, kills: -1, totalKills: 1, tier: 0, state: '' },
      '"kills" must be a number',
    ],
    [{ kind: 'oom', t: 1, kills: 1, tier: 0, state: '' }, '"totalKills" must be a number'],
    [{ t: 1, current: 1, limit: 2 }, 'not a journal line: no "kind" (a plain trace?'],
  ])('names the field of a bad record %#', (record, detail) => {
    const error = parseJournalLine(JSON.stringify(record), 7)._unsafeUnwrapErr();
    expect(error.line).toBe(7);
    expect(error.detail).toContain(detail);
  });

  it('makes parseTraceEntry skip result records and read sample records as samples', () => {
    expect(parseTraceEntry(JSON.stringify(result(1, 1)), 1)._unsafeUnwrap()).toBeNull();
    expect(parseTraceEntry('{"kind":"heartbeat"}', 1)._unsafeUnwrap()).toBeNull();
    // A plain trace line has no kind: a sample, exactly as parseTraceLine reads it.
    const plain = '{"t":5,"current":10,"inactiveFile":2,"limit":100}';
    expect(parseTraceEntry(plain, 1)._unsafeUnwrap()).toEqual(
      parseTraceLine(plain, 1)._unsafeUnwrap(),
    );
    expect(parseTraceEntry(JSON.stringify(sample(1, 0.25)), 1)._unsafeUnwrap()).toMatchObject({
      t: 1,
      current: LIMIT_BYTES / 4,
      limit: LIMIT_BYTES,
    });
  });
});

describe('memgov replay of a written journal', () => {
  it('gives exactly the output of the same curve as a plain trace', () => {
    const T0 = 1_000_000;
    const curve: [number, number][] = [
      [T0, 0.5],
      [T0 + 60_000, 0.72],
      [T0 + 60_100, 0.95],
      [T0 + 60_200, 0.95],
      [T0 + 120_000, 0.6],
    ];
    const path = join(dir, 'journal.jsonl');
    const journal = opened({ path });
    for (const [i, [t, ratio]] of curve.entries()) {
      journal.append(sample(t, ratio))._unsafeUnwrap();
      journal.append(result(t + 50, i))._unsafeUnwrap();
    }
    journal.close();
    writeFileSync(join(dir, 'trace.jsonl'), traceOf(curve));
    const fromJournal = runBundle(['replay', path, '--json']);
    const fromTrace = runBundle(['replay', join(dir, 'trace.jsonl'), '--json']);
    expect(fromJournal.stderr).toBe('');
    expect(fromJournal.code).toBe(0);
    expect(fromJournal.stdout.split('\n')).toHaveLength(curve.length + 1);
    expect(fromJournal.stdout).toBe(fromTrace.stdout);
    expect(lstatSync(path).isFile()).toBe(true);
  });

  it('keeps the strict error for a torn line: replay names the file and line', () => {
    const path = join(dir, 'journal.jsonl');
    writeFileSync(path, `${JSON.stringify(sample(1))}\n${JSON.stringify(sample(2)).slice(0, 20)}`);
    const run = runBundle(['replay', path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${path}:2: not a JSON object`);
  });
});
