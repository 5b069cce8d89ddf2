// The persisted snapshot on a real filesystem: round trips, permissions, atomicity when a write
// fails, symbolic links refused, every unusable file explained, and moving aside without loss.
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatStateFileError,
  moveAside,
  readStateFile,
  STATE_VERSION,
  writeStateFile,
} from '../../adapters/state-file.ts';

const SAVED_AT_MS = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const SNAPSHOT = {
  status: 'active',
  value: { watching: 'elevated' },
  context: { compactedAtMs: 1_735_786_000_000, windows: [1, 2, 3], note: 'ünïcode ✓' },
};

let dir: string;
let path: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'memgov-state-'));
  path = join(dir, 'mem_governor_state');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function reasonFor(text: string): string {
  writeFileSync(path, text);
  const read = readStateFile(path)._unsafeUnwrap();
  if (read.kind !== 'unusable') throw new Error(`expected unusable, got ${read.kind}`);
  return read.reason;
}

function envelope(fields: Record<string, unknown>): string {
  return JSON.stringify({ memgov: 'state', version: 1, savedAtMs: 5, snapshot: {}, ...fields });
}

describe('writeStateFile + readStateFile', () => {
  it('round-trips the snapshot and the save time inside a marked, versioned envelope', () => {
    expect(writeStateFile(path, SNAPSHOT, SAVED_AT_MS).isOk()).toBe(true);
    expect(readStateFile(path)._unsafeUnwrap()).toEqual({
      kind: 'ok',
      snapshot: SNAPSHOT,
      savedAtMs: SAVED_AT_MS,
    });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      memgov: 'state',
      version: STATE_VERSION,
      savedAtMs: SAVED_AT_MS,
      snapshot: SNAPSHOT,
    });
  });

  it('replaces the previous snapshot and leaves no temp file behind', () => {
    writeStateFile(path, { n: 1 }, 1)._unsafeUnwrap();
    writeStateFile(path, { n: 2 }, 2)._unsafeUnwrap();
    expect(readStateFile(path)._unsafeUnwrap()).toEqual({
      kind: 'ok',
      snapshot: { n: 2 },
      savedAtMs: 2,
    });
    expect(readdirSync(dir)).toEqual(['mem_governor_state']);
  });

  it('reports a missing file as missing, not as an error', () => {
    expect(readStateFile(path)._unsafeUnwrap()).toEqual({ kind: 'missing' });
  });

  it('round-trips any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        writeStateFile(path, value, SAVED_AT_MS)._unsafeUnwrap();
        const read = readStateFile(path)._unsafeUnwrap();
        expect(read).toEqual({
          kind: 'ok',
          snapshot: JSON.parse(JSON.stringify(value)) as unknown,
          savedAtMs: SAVED_AT_MS,
        });
      }),
      { numRuns: 50 },
    );
  });
});

describe('permissions', () => {
  it('creates the file 0600 and missing directories 0700', () => {
    const nested = join(dir, 'agent-data', 'config', 'mem_governor_state');
    writeStateFile(nested, SNAPSHOT, SAVED_AT_MS)._unsafeUnwrap();
    expect(statSync(nested).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'agent-data', 'config')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'agent-data')).mode & 0o777).toBe(0o700);
  });

  it('replaces a world-readable file with a 0600 one and leaves an existing directory alone', () => {
    chmodSync(dir, 0o755);
    writeFileSync(path, 'old', { mode: 0o644 });
    writeStateFile(path, SNAPSHOT, SAVED_AT_MS)._unsafeUnwrap();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });
});

describe('atomicity', () => {
  it('keeps the previous file byte for byte when the snapshot cannot be serialised', () => {
    writeStateFile(path, SNAPSHOT, SAVED_AT_MS)._unsafeUnwrap();
    const before = readFileSync(path);
    const failed = writeStateFile(path, { limitBytes: 10n }, SAVED_AT_MS + 1);
    const error = failed._unsafeUnwrapErr();
    expect(error.kind).toBe('io');
    expect(formatStateFileError(error)).toBe(
      `${path}: cannot serialise the snapshot: Do not know how to serialize a BigInt`,
    );
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('keeps the previous file when the rename fails and removes the temp file', () => {
    // A directory in the way: the temp file is written, then renaming over it fails (EISDIR).
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'kept');
    const error = writeStateFile(path, SNAPSHOT, SAVED_AT_MS)._unsafeUnwrapErr();
    expect(error.kind).toBe('io');
    expect(formatStateFileError(error)).toMatch(
      new RegExp(`^${path}: cannot move the new state file into place: EISDIR`),
    );
    expect(readFileSync(join(path, 'inside'), 'utf8')).toBe('kept');
    expect(readdirSync(dir)).toEqual(['mem_governor_state']);
  });

  it('refuses a snapshot that would serialise to nothing', () => {
    expect(writeStateFile(path, undefined, 1)._unsafeUnwrapErr().detail).toBe(
      'cannot save a snapshot of type undefined',
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('symbolic links', () => {
  it('refuses to write through a link and leaves the link and its target untouched', () => {
    const target = join(dir, 'precious');
    writeFileSync(target, 'precious bytes');
    symlinkSync(target, path);
    const error = writeStateFile(path, SNAPSHOT, SAVED_AT_MS)._unsafeUnwrapErr();
    expect(error).toEqual({
      kind: 'symlink',
      path,
      detail: 'is a symbolic link; refusing to follow or replace it',
    });
    expect(formatStateFileError(error)).toBe(
      `${path}: is a symbolic link; refusing to follow or replace it`,
    );
    expect(readFileSync(target, 'utf8')).toBe('precious bytes');
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path)).toBe(target);
    expect(readdirSync(dir).sort()).toEqual(['mem_governor_state', 'precious']);
  });

  it('refuses to read through a link, even to a valid state file', () => {
    const target = join(dir, 'elsewhere');
    writeStateFile(target, SNAPSHOT, SAVED_AT_MS)._unsafeUnwrap();
    symlinkSync(target, path);
    expect(readStateFile(path)._unsafeUnwrapErr().kind).toBe('symlink');
  });

  it('refuses a dangling link', () => {
    symlinkSync(join(dir, 'nowhere'), path);
    expect(readStateFile(path)._unsafeUnwrapErr().kind).toBe('symlink');
    expect(writeStateFile(path, SNAPSHOT, 1)._unsafeUnwrapErr().kind).toBe('symlink');
    expect(readdirSync(dir)).toEqual(['mem_governor_state']);
  });
});

describe('unusable files, each with a precise reason', () => {
  it.each([
    ['garbage', 'not JSON: unexpected "g" at position 0'],
    ['{"memgov": "state", oops}', 'not JSON: unexpected "o" at position 20'],
    ['{"memgov":"state","version":1,"snap', 'not JSON: ends early at position 35 (truncated)'],
    ['{"a":1}}', 'not JSON: unexpected "}" at position 7'],
    ['', 'empty file'],
    ['  \n', 'empty file'],
    ['[]', 'not a JSON object (got a list)'],
    ['42', 'not a JSON object (got a number)'],
    ['null', 'not a JSON object (got null)'],
    [
      '{"hello":1}',
      'not a memgov state file (no "memgov" key; keys: hello; expected "memgov": "state")',
    ],
    [
      '{"memgov":"config","version":1}',
      'not a memgov state file ("memgov" is "config"; expected "memgov": "state")',
    ],
    [envelope({ version: 2 }), 'state file is version 2; this memgov reads version 1 only'],
    [envelope({ version: '1' }), 'state file is version "1"; this memgov reads version 1 only'],
    [
      envelope({ version: undefined }),
      'state file has no "version"; this memgov reads version 1 only',
    ],
    [envelope({ savedAtMs: 'today' }), '"savedAtMs" must be a number (got "today")'],
    [envelope({ snapshot: undefined }), 'no "snapshot" in the file'],
  ])('%j: %s', (text, reason) => {
    expect(reasonFor(text)).toBe(reason);
  });

  it('truncating a real state file anywhere makes it unusable, never an error or a crash', () => {
    writeStateFile(path, SNAPSHOT, SAVED_AT_MS)._unsafeUnwrap();
    const full = readFileSync(path, 'utf8');
    for (let length = 1; length < full.length; length++) {
      const reason = reasonFor(full.slice(0, length));
      expect(reason).toMatch(/^not JSON: (ends early at position \d+ \(truncated\)|unexpected)/);
    }
  });

  it('explains any text in one line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        writeFileSync(path, text);
        const read = readStateFile(path)._unsafeUnwrap();
        expect(read.kind).toBe('unusable');
        if (read.kind === 'unusable') expect(read.reason).not.toMatch(/\n/);
      }),
    );
  });

  it('reports a directory at the path as an error naming it', () => {
    mkdirSync(path);
    const error = readStateFile(path)._unsafeUnwrapErr();
    expect(error.kind).toBe('io');
    expect(formatStateFileError(error)).toBe(
      `${path}: cannot read the state file: EISDIR: illegal operation on a directory`,
    );
  });
});

describe('moveAside', () => {
  const AT_MS = Date.UTC(2025, 4, 6, 7, 8, 9, 10);
  const ASIDE = `.corrupt-2025-05-06T07-08-09.010Z`;

  it('moves the file to a timestamped name without ":" and keeps its bytes', () => {
    writeFileSync(path, 'garbage \u0000 bytes');
    const moved = moveAside(path, AT_MS)._unsafeUnwrap();
    expect(moved).toBe(`${path}${ASIDE}`);
    expect(readFileSync(moved, 'utf8')).toBe('garbage \u0000 bytes');
    expect(readStateFile(path)._unsafeUnwrap()).toEqual({ kind: 'missing' });
  });

  it('never overwrites: twice in the same millisecond gives a -1 name', () => {
    writeFileSync(path, 'first');
    const first = moveAside(path, AT_MS)._unsafeUnwrap();
    writeFileSync(path, 'second');
    const second = moveAside(path, AT_MS)._unsafeUnwrap();
    writeFileSync(path, 'third');
    const third = moveAside(path, AT_MS)._unsafeUnwrap();
    expect([first, second, third]).toEqual([
      `${path}${ASIDE}`,
      `${path}${ASIDE}-1`,
      `${path}${ASIDE}-2`,
    ]);
    expect([first, second, third].map((p) => readFileSync(p, 'utf8'))).toEqual([
      'first',
      'second',
      'third',
    ]);
    expect(readdirSync(dir)).toHaveLength(3);
  });

  it('is an error naming the file when there is nothing to move', () => {
    const error = moveAside(path, AT_MS)._unsafeUnwrapErr();
    expect(formatStateFileError(error)).toBe(
      `${path}: cannot move the state file aside to ${path}${ASIDE}: ENOENT: no such file or directory`,
    );
  });
});
