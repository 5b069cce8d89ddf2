// The Claude Code session adapter on a fake $CLAUDE_CONFIG_DIR laid out like the real one
// (test/fixtures/claude/config, copied to a temp directory before anything may touch it): session
// files of both generations, transcripts in the newer and older compaction forms, the tail reader
// on a 20 MiB transcript, and the exact set of paths archived for a session.
import { createHash } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Manifest } from '../../adapters/archive/manifest.ts';
import { archiveSession } from '../../adapters/archive/write.ts';
import {
  claudeConfigDir,
  findClearedSession,
  findSessions,
  findTranscript,
  projectDirName,
  readSessionFor,
  resumeCommand,
  sessionArchiveSet,
  sessionForProcess,
  transcriptPath,
} from '../../agents/claude-code.ts';
import {
  clearFinished,
  clearedSessionId,
  commandTaken,
  compactCompletion,
  compactFailedAfter,
  compactFinishedAfter,
  encodeCwd,
  findCompaction,
  parseSessionFile,
  recordText,
  type ClaudeSession,
} from '../../agents/claude-code-parse.ts';
import {
  parseTranscriptText,
  readTranscriptTail,
  type TranscriptRecord,
} from '../../adapters/session-files.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/claude/config', import.meta.url));
const SID = '3f2b8c1e-7d4a-4e5b-9c6d-1a2b3c4d5e6f';
const OLD = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const WT = 'c0ffee00-1111-4222-8333-444455556666';
const at = (iso: string): number => Date.parse(iso);
const MiB = 1024 * 1024;

let work: string;
let config: string;
let env: Record<string, string>;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'memgov-claude-'));
  config = join(work, 'config');
  cpSync(FIXTURE, config, { recursive: true });
  env = { CLAUDE_CONFIG_DIR: config, HOME: join(work, 'home') };
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function fixtureText(path: string): string {
  return readFileSync(join(FIXTURE, path), 'utf8');
}

function fixtureRecords(path: string): TranscriptRecord[] {
  return [...parseTranscriptText(fixtureText(path)).records];
}

const NEWER = `projects/-work-app/${SID}.jsonl`;
const OLDER = `projects/-work-app/${OLD}.jsonl`;

describe('locations', () => {
  it('takes $CLAUDE_CONFIG_DIR, else $HOME/.claude', () => {
    expect(claudeConfigDir({ CLAUDE_CONFIG_DIR: '/data/claude', HOME: '/home/a' })).toBe(
      '/data/claude',
    );
    expect(claudeConfigDir({ CLAUDE_CONFIG_DIR: '', HOME: '/home/a' })).toBe('/home/a/.claude');
    expect(claudeConfigDir({ HOME: '/home/a' })).toBe('/home/a/.claude');
  });

  it('encodes a cwd the way Claude Code names its project directory', () => {
    expect(encodeCwd('/work/app')).toBe('-work-app');
    expect(encodeCwd('/home/u/.local/x')).toBe('-home-u--local-x');
    expect(encodeCwd('/work/my_app/.worktrees/feature-x')).toBe(
      '-work-my-app--worktrees-feature-x',
    );
    // Every UTF-16 code unit outside [A-Za-z0-9] folds: the astral emoji is two dashes.
    expect(encodeCwd('/w/é 😀')).toBe('-w-----');
  });

  it('cuts names past 200 characters and adds a base-36 hash of the cwd', () => {
    const long = `/work/${'deep/'.repeat(60)}end`;
    const encoded = encodeCwd(long);
    expect(encoded.slice(0, 200)).toBe(long.replace(/[^A-Za-z0-9]/g, '-').slice(0, 200));
    expect(encoded).toMatch(/^[A-Za-z0-9-]{200}-[0-9a-z]+$/);
    expect(encodeCwd(`${long}2`)).not.toBe(encoded);
  });

  it('encodes any cwd into [A-Za-z0-9-], one character per code unit up to 200', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (cwd) => {
        const encoded = encodeCwd(cwd);
        expect(encoded).toMatch(/^[A-Za-z0-9-]*$/);
        if (cwd.length <= 200) expect(encoded.length).toBe(cwd.length);
      }),
    );
  });

  it('honours CLAUDE_CODE_PROJECT_DIR_NAME, and gives the transcript path', () => {
    expect(projectDirName({ CLAUDE_CODE_PROJECT_DIR_NAME: 'short' }, '/work/app')).toBe('short');
    expect(projectDirName({ CLAUDE_CODE_PROJECT_DIR_NAME: '../x' }, '/work/app')).toBe('-work-app');
    expect(transcriptPath(env, '/work/app', SID)._unsafeUnwrap()).toBe(
      join(config, 'projects', '-work-app', `${SID}.jsonl`),
    );
    expect(transcriptPath(env, '/work/app', '../../etc/passwd')._unsafeUnwrapErr().kind).toBe(
      'unsafe',
    );
  });
});

describe('parseSessionFile', () => {
  it('reads a current session file, extra fields ignored', () => {
    expect(parseSessionFile(fixtureText('sessions/48213.json'))._unsafeUnwrap()).toEqual({
      pid: 48213,
      sessionId: SID,
      cwd: '/work/app',
      status: 'idle',
      procStart: '20095994',
      startedAtMs: 1786945302113,
      updatedAtMs: 1786946880412,
      statusUpdatedAtMs: 1786946880412,
      version: '2.1.236',
      format: 'current',
    });
    expect(parseSessionFile(fixtureText('sessions/50122.json'))._unsafeUnwrap()).toMatchObject({
      pid: 50122,
      sessionId: WT,
      cwd: '/work/my_app/.worktrees/feature-x',
      status: 'busy',
    });
  });

  it('reads an SDK session without a status, and a legacy pid-N.json', () => {
    expect(parseSessionFile(fixtureText('sessions/61000.json'))._unsafeUnwrap().status).toBe(
      'unknown',
    );
    expect(parseSessionFile(fixtureText('sessions/pid-31337.json'))._unsafeUnwrap()).toEqual({
      pid: 31337,
      sessionId: OLD,
      cwd: '/work/app',
      status: 'unknown',
      procStart: null,
      startedAtMs: null,
      updatedAtMs: null,
      statusUpdatedAtMs: null,
      version: null,
      format: 'legacy',
    });
  });

  it('tolerates odd but usable values', () => {
    const parse = (value: unknown, pid?: number) => parseSessionFile(JSON.stringify(value), pid);
    const base = { sessionId: SID, cwd: '/w' };
    expect(parse({ ...base, pid: 7, status: 'thinking' })._unsafeUnwrap().status).toBe('unknown');
    expect(parse({ ...base, pid: 7, procStart: 123 })._unsafeUnwrap().procStart).toBe('123');
    expect(parse({ ...base, pid: '7' })._unsafeUnwrap().pid).toBe(7);
    expect(parse(base, 9)._unsafeUnwrap().pid).toBe(9);
    expect(
      parse({ ...base, pid: 7, updatedAt: '2026-08-17T05:00:00Z' })._unsafeUnwrap(),
    ).toMatchObject({ updatedAtMs: at('2026-08-17T05:00:00Z') });
  });

  it.each([
    ['a torn write', fixtureText('sessions/77777.json'), 'not JSON'],
    ['an array', '[1,2]', 'not a JSON object'],
    ['no session id', '{"pid":1,"cwd":"/w"}', 'no "sessionId"'],
    ['a traversing id', '{"pid":1,"cwd":"/w","sessionId":"../../x"}', 'unsafe session id'],
    ['a relative cwd', `{"pid":1,"cwd":"w","sessionId":"${SID}"}`, 'absolute'],
    ['no pid at all', `{"cwd":"/w","sessionId":"${SID}"}`, 'no "pid"'],
  ])('refuses %s', (_name, text, why) => {
    expect(parseSessionFile(text)._unsafeUnwrapErr()).toContain(why);
  });

  it('never throws, and what it accepts is safe to build paths from', () => {
    const check = (text: string): void => {
      const parsed = parseSessionFile(text, 5);
      if (parsed.isOk()) {
        expect(parsed.value.sessionId).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
        expect(parsed.value.sessionId).not.toContain('..');
        expect(parsed.value.cwd.startsWith('/')).toBe(true);
      }
    };
    fc.assert(fc.property(fc.string(), check));
    fc.assert(fc.property(fc.jsonValue(), (value) => check(JSON.stringify(value))));
    fc.assert(
      fc.property(
        fc.record(
          {
            pid: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
            sessionId: fc.oneof(fc.uuid(), fc.string()),
            session_id: fc.string(),
            cwd: fc.oneof(fc.constant('/work/app'), fc.string()),
            status: fc.oneof(fc.constantFrom('idle', 'busy', 'waiting', 'shell'), fc.string()),
            procStart: fc.oneof(fc.string(), fc.integer(), fc.double()),
          },
          { requiredKeys: [] },
        ),
        (value) => check(JSON.stringify(value)),
      ),
    );
  });
});

describe('session file readers', () => {
  it('reads <pid>.json, then the legacy pid-<pid>.json; null when neither exists', async () => {
    const current = (await readSessionFor(48213, env))._unsafeUnwrap();
    expect(current).toMatchObject({ sessionId: SID, path: join(config, 'sessions/48213.json') });
    expect(current?.mtimeMs).toBeGreaterThan(0);
    expect((await readSessionFor(31337, env))._unsafeUnwrap()).toMatchObject({
      sessionId: OLD,
      format: 'legacy',
      path: join(config, 'sessions/pid-31337.json'),
    });
    expect((await readSessionFor(4242, env))._unsafeUnwrap()).toBeNull();
  });

  it('names the file it cannot use', async () => {
    expect((await readSessionFor(77777, env))._unsafeUnwrapErr()).toEqual({
      kind: 'garbled',
      path: join(config, 'sessions/77777.json'),
      detail: 'not JSON',
    });
    writeFileSync(
      join(config, 'sessions/5.json'),
      JSON.stringify({ pid: 6, sessionId: SID, cwd: '/w' }),
    );
    expect((await readSessionFor(5, env))._unsafeUnwrapErr().detail).toBe('names pid 6');
    expect((await readSessionFor(-1, env))._unsafeUnwrapErr().kind).toBe('unsafe');
  });

  it('lists every session, both generations, and the files it could not use', async () => {
    const found = (await findSessions(env))._unsafeUnwrap();
    expect(found.sessions.map((s) => [s.pid, s.sessionId, s.status, s.format])).toEqual([
      [31337, OLD, 'unknown', 'legacy'],
      [48213, SID, 'idle', 'current'],
      [50122, WT, 'busy', 'current'],
      [61000, '5d6e7f80-9a1b-4c2d-8e3f-405162738495', 'unknown', 'current'],
    ]);
    expect(found.unusable.map((u) => u.path)).toEqual([join(config, 'sessions/77777.json')]);
    expect((await findSessions({ CLAUDE_CONFIG_DIR: join(work, 'none') }))._unsafeUnwrap()).toEqual(
      {
        sessions: [],
        unusable: [],
      },
    );
  });
});

describe('sessionForProcess', () => {
  /** A fake /proc with only `stat`: boot at 1786900000 s. */
  function procRoot(): string {
    const root = join(work, 'proc');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'stat'), 'cpu  1 2 3 4\nbtime 1786900000\nprocesses 9\n');
    return root;
  }

  it('matches by procStart, and never matches a recycled pid', async () => {
    const live = { pid: 48213, startTicks: 20095994, pgrp: 48213 };
    expect((await sessionForProcess(live, env))._unsafeUnwrap()).toMatchObject({
      kind: 'matched',
      verifiedBy: 'procStart',
      session: { sessionId: SID },
    });
    const recycled = await sessionForProcess({ ...live, startTicks: 20095995 }, env);
    expect(recycled._unsafeUnwrap()).toMatchObject({
      kind: 'stale',
      detail: 'procStart 20095994, the process started at tick 20095995',
    });
    expect(
      (await sessionForProcess({ pid: 4242, startTicks: 1, pgrp: 1 }, env))._unsafeUnwrap(),
    ).toEqual({ kind: 'none' });
  });

  it('without procStart, refuses a file written before the process started', async () => {
    const file = join(config, 'sessions/pid-31337.json');
    utimesSync(file, 1786945000, 1786945000);
    const options = { procRoot: procRoot() };
    // Started 1786946000 s: 1000 s after the file was last written.
    const later = { pid: 31337, startTicks: 4_600_000, pgrp: 31337 };
    expect((await sessionForProcess(later, env, options))._unsafeUnwrap().kind).toBe('stale');
    const earlier = { ...later, startTicks: 4_400_000 };
    expect((await sessionForProcess(earlier, env, options))._unsafeUnwrap()).toMatchObject({
      kind: 'matched',
      verifiedBy: 'fileTime',
    });
    const blind = { procRoot: join(work, 'no-proc') };
    expect((await sessionForProcess(later, env, blind))._unsafeUnwrap()).toMatchObject({
      kind: 'matched',
      verifiedBy: 'unverified',
    });
  });
});

describe('transcripts', () => {
  it('finds the transcript where the cwd says, else by session id across projects', async () => {
    expect((await findTranscript(env, '/work/app', SID))._unsafeUnwrap()).toBe(
      join(config, 'projects/-work-app', `${SID}.jsonl`),
    );
    // A cwd spelled differently (a later version's naming, a symlinked path): found by id.
    expect((await findTranscript(env, '/srv/elsewhere', WT))._unsafeUnwrap()).toBe(
      join(config, 'projects/-work-my-app--worktrees-feature-x', `${WT}.jsonl`),
    );
    expect((await findTranscript(env, '/work/app', 'ffffffff-0000'))._unsafeUnwrap()).toBeNull();
  });

  it('reads a live transcript whole when it fits: the record being written is not garbage', async () => {
    const path = join(config, NEWER);
    const tail = (await readTranscriptTail(path, MiB))._unsafeUnwrap();
    expect(tail.startOffset).toBe(0);
    expect(tail.bytesRead).toBe(statSync(path).size);
    expect(tail.records).toHaveLength(15);
    expect(tail.garbledLines).toBe(0);
    expect(tail.partialLastLine).toBe(true);
    expect(JSON.stringify(tail.records[4])).toContain('été — 日本語');
    expect(recordText(tail.records[2] as TranscriptRecord)).toBe('fix the flaky archive test');
  });

  it('drops the line the window cuts, and counts garbled lines', async () => {
    const path = join(config, NEWER);
    const tail = (await readTranscriptTail(path, 700))._unsafeUnwrap();
    expect(tail.bytesRead).toBe(700);
    expect(tail.startOffset).toBe(statSync(path).size - 700);
    expect(tail.garbledLines).toBe(0);
    expect(tail.records.at(-1)).toMatchObject({ uuid: 'a0000000-0000-4000-8000-00000000000b' });

    const odd = join(work, 'odd.jsonl');
    writeFileSync(odd, '{"type":"user"}\nnot json\n[1]\n\n{"type":"assistant"}\n');
    expect((await readTranscriptTail(odd, MiB))._unsafeUnwrap()).toMatchObject({
      garbledLines: 2,
      partialLastLine: false,
      records: [{ type: 'user' }, { type: 'assistant' }],
    });
    expect(
      (await readTranscriptTail(join(work, 'none.jsonl'), MiB))._unsafeUnwrapErr(),
    ).toMatchObject({ kind: 'io', path: join(work, 'none.jsonl') });
  });

  it('reads only the tail of a 20 MiB transcript', async () => {
    const path = join(work, 'big.jsonl');
    const filler = JSON.stringify({
      type: 'assistant',
      timestamp: '2026-08-17T05:00:00.000Z',
      message: { role: 'assistant', content: [{ type: 'text', text: 'x'.repeat(900) }] },
    });
    const line = `${filler}\n`;
    const handle = await open(path, 'w');
    const block = line.repeat(1024);
    for (let written = 0; written < 20 * MiB; written += block.length) await handle.write(block);
    await handle.write(fixtureText(NEWER).split('\n').slice(9, 15).join('\n').concat('\n'));
    await handle.close();
    expect(statSync(path).size).toBeGreaterThan(20 * MiB);

    // Count what the reader asks of the file: every FileHandle.read, by length.
    const probe = await open(path, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
    await probe.close();
    const requested: number[] = [];
    const original = proto.read;
    const spy = vi.spyOn(proto, 'read').mockImplementation(function (this: unknown, ...args) {
      requested.push(typeof args[2] === 'number' ? args[2] : Number.NaN);
      return original.apply(this, args);
    });
    // Bytes, not time, are asserted: on this project's VM the 256 KiB tail took 1..31 ms over 4
    // runs, and reading and parsing the whole 20 MiB file only 119..134 ms.
    const tail = await readTranscriptTail(path, 256 * 1024);
    spy.mockRestore();

    const value = tail._unsafeUnwrap();
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(256 * 1024);
    expect(value.bytesRead).toBe(256 * 1024);
    expect(value.garbledLines).toBe(0);
    expect(findCompaction(value.records, at('2026-08-17T05:49:00Z'))?.form).toBe('boundary');
  });

  it('never throws on any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.boolean(), (text, mid) => {
        const parsed = parseTranscriptText(text, mid);
        expect(parsed.garbledLines).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe('completion detectors', () => {
  const newer = (): TranscriptRecord[] => fixtureRecords(NEWER);
  const older = (): TranscriptRecord[] => fixtureRecords(OLDER);

  it('sees the newer form: boundary, then summary, then the dimmed stdout', () => {
    expect(findCompaction(newer(), at('2026-08-17T05:50:00Z'))).toEqual({
      atMs: at('2026-08-17T05:51:12.441Z'),
      form: 'boundary',
      trigger: 'manual',
      preTokens: 155317,
    });
    expect(findCompaction(newer(), at('2026-08-17T05:51:12.442Z'))?.form).toBe('summary');
    expect(findCompaction(newer(), at('2026-08-17T05:51:12.445Z'))?.form).toBe('stdout');
    expect(findCompaction(newer(), at('2026-08-17T05:51:12.451Z'))).toBeNull();
    expect(compactFinishedAfter(newer(), at('2026-08-17T05:50:00Z'))).toBe(true);
    expect(compactFinishedAfter(newer(), at('2026-08-17T05:52:00Z'))).toBe(false);
  });

  it('sees the older form: the stdout in a user record, text blocks, no boundary', () => {
    expect(findCompaction(older(), at('2026-08-10T09:05:00Z'))).toEqual({
      atMs: at('2026-08-10T09:11:30Z'),
      form: 'stdout',
      trigger: null,
      preTokens: null,
    });
    expect(compactFinishedAfter(older(), at('2026-08-10T09:12:00Z'))).toBe(false);
  });

  it('takes the time of an untimed record from the one before it, and skips sidechains', () => {
    const records: TranscriptRecord[] = [
      { type: 'user', timestamp: '2026-08-17T06:00:00Z', message: { content: 'hi' } },
      { type: 'system', subtype: 'compact_boundary' },
    ];
    expect(findCompaction(records, at('2026-08-17T06:00:00Z'))?.atMs).toBe(
      at('2026-08-17T06:00:00Z'),
    );
    expect(findCompaction(records, at('2026-08-17T06:00:01Z'))).toBeNull();
    expect(findCompaction([{ type: 'system', subtype: 'compact_boundary' }], 0)).toBeNull();
    const sidechain = [
      {
        type: 'system',
        subtype: 'compact_boundary',
        isSidechain: true,
        timestamp: '2026-08-17T06:00:00Z',
      },
    ];
    expect(compactFinishedAfter(sidechain, 0)).toBe(false);
    const prose = [
      { type: 'user', timestamp: '2026-08-17T06:00:00Z', message: { content: 'Compacted it?' } },
    ];
    expect(compactFinishedAfter(prose, 0)).toBe(false);
  });

  it('reports a compaction that a hook refused', () => {
    const records: TranscriptRecord[] = [
      {
        type: 'system',
        subtype: 'local_command',
        timestamp: '2026-08-17T06:00:00Z',
        content:
          '<local-command-stderr>Compaction blocked by PreCompact hook: squad</local-command-stderr>',
      },
    ];
    expect(compactFailedAfter(records, 0)).toBe('Compaction blocked by PreCompact hook: squad');
    expect(compactFailedAfter(records, at('2026-08-17T06:00:01Z'))).toBeNull();
    expect(compactFailedAfter(newer(), 0)).toBeNull();
  });

  it('reports the CLI refusing to compact (stdout of a local_command record) at once', () => {
    // As the real 2.1.197 writes it after a single exchange.
    const records: TranscriptRecord[] = [
      {
        type: 'system',
        subtype: 'local_command',
        timestamp: '2026-08-17T06:00:00Z',
        content: '<local-command-stdout>Not enough messages to compact.</local-command-stdout>',
      },
    ];
    expect(compactFailedAfter(records, 0)).toBe('Not enough messages to compact.');
    expect(compactCompletion(records, 0)).toEqual({
      kind: 'failed',
      detail: 'compaction failed: Not enough messages to compact.',
    });
    expect(compactFailedAfter(records, at('2026-08-17T06:00:01Z'))).toBeNull();
  });

  it('knows when the command was taken, not merely queued', () => {
    const since = at('2026-08-17T05:49:00Z');
    expect(commandTaken(newer(), '/compact', since)).toBe(true);
    expect(commandTaken(newer(), 'compact', since)).toBe(true);
    expect(commandTaken(newer(), '/compact keep the tests', since)).toBe(true);
    expect(commandTaken(newer(), '/clear', since)).toBe(false);
    expect(commandTaken(newer(), '/compact', at('2026-08-17T05:50:00.002Z'))).toBe(false);
    // The queue-operation at 05:44 is a command typed mid-turn: queued, not taken.
    const beforeCompact = newer().filter(
      (r) => ((r.timestamp as string | undefined) ?? '') < '2026-08-17T05:45',
    );
    expect(commandTaken(beforeCompact, '/compact', at('2026-08-17T05:43:00Z'))).toBe(false);
    expect(commandTaken(older(), '/compact', at('2026-08-10T09:05:00Z'))).toBe(true);
    expect(commandTaken(newer(), '/', 0)).toBe(false);
  });

  it('takes the literal text, but not prose or the assistant quoting it', () => {
    const t = '2026-08-17T06:00:00Z';
    const user = (content: unknown): TranscriptRecord => ({
      type: 'user',
      timestamp: t,
      message: { content },
    });
    expect(commandTaken([user('/compact')], '/compact', 0)).toBe(true);
    expect(commandTaken([user([{ type: 'text', text: '/compact focus' }])], '/compact', 0)).toBe(
      true,
    );
    expect(commandTaken([user('please /compact now')], '/compact', 0)).toBe(false);
    expect(commandTaken([user('/compaction')], '/compact', 0)).toBe(false);
    const assistant = {
      type: 'assistant',
      timestamp: t,
      message: { content: '<command-name>/compact</command-name>' },
    };
    expect(commandTaken([assistant], '/compact', 0)).toBe(false);
  });

  it('never throws on records of any shape', () => {
    const record = fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          'type',
          'subtype',
          'timestamp',
          'isCompactSummary',
          'message',
          'content',
          'isSidechain',
        ),
        fc.string(),
      ),
      fc.oneof(
        fc.constantFrom(
          'user',
          'system',
          'compact_boundary',
          '<command-name>/compact</command-name>',
        ),
        fc.anything(),
      ),
    );
    fc.assert(
      fc.property(fc.array(record), fc.integer(), (records, since) => {
        findCompaction(records, since);
        compactFailedAfter(records, since);
        commandTaken(records, '/compact', since);
      }),
    );
  });

  it('sees /clear as a new session id, in the session file or as a new transcript', async () => {
    const before = (await readSessionFor(48213, env))._unsafeUnwrap() as ClaudeSession;
    expect(clearFinished(SID, before)).toBe(false);
    expect(clearFinished(SID, { ...before, sessionId: WT })).toBe(true);
    expect(clearFinished(SID, null)).toBe(false);

    expect(
      clearedSessionId(
        [
          { name: `${SID}.jsonl`, mtimeMs: 500 },
          { name: `${OLD}.jsonl`, mtimeMs: 90 },
          { name: 'agent-5e6f7a8b.jsonl', mtimeMs: 600 },
          { name: `${WT}.jsonl`, mtimeMs: 200 },
          { name: 'notes.txt', mtimeMs: 700 },
        ],
        SID,
        100,
      ),
    ).toBe(WT);
    const dir = join(config, 'projects/-work-app');
    for (const name of readdirSync(dir)) utimesSync(join(dir, name), 1000, 1000);
    const sinceMs = Date.now() - 1_000;
    expect((await findClearedSession(env, before, sinceMs))._unsafeUnwrap()).toBeNull();
    const next = '7e7e7e7e-1111-4222-8333-444455556666';
    writeFileSync(join(dir, `${next}.jsonl`), '{"type":"user"}\n');
    expect((await findClearedSession(env, before, sinceMs))._unsafeUnwrap()).toBe(next);
  });
});

describe('sessionArchiveSet', () => {
  it('lists exactly the paths of the session, existing ones only', async () => {
    const session = (await readSessionFor(48213, env))._unsafeUnwrap() as ClaudeSession;
    const set = (await sessionArchiveSet(env, session))._unsafeUnwrap();
    expect(set.sources).toEqual(
      [
        `projects/-work-app/${SID}.jsonl`,
        `projects/-work-app/${SID}`,
        'projects/-work-app/agent-5e6f7a8b.jsonl',
        `file-history/${SID}`,
        `todos/${SID}-agent-${SID}.json`,
        `todos/${SID}-agent-a1b2c3d4e5f6a7b8c.json`,
        `session-env/${SID}`,
        'sessions/48213.json',
        'plans',
      ].map((p) => join(config, p)),
    );
    expect(set.extraManifest).toEqual({
      profile: 'claude-code',
      sessionId: SID,
      cwd: '/work/app',
      agentPid: 48213,
      claudeConfigDir: config,
    });
    expect(set.exclude('x/.credentials.json', '/a/x/.credentials.json')).toBe(true);
    expect(set.exclude('credentials.json', '/a/credentials.json')).toBe(false);
  });

  it('lists a legacy session, and only what exists', async () => {
    const legacy = (await readSessionFor(31337, env))._unsafeUnwrap() as ClaudeSession;
    expect((await sessionArchiveSet(env, legacy))._unsafeUnwrap().sources).toEqual(
      [
        `projects/-work-app/${OLD}.jsonl`,
        'projects/-work-app/agent-0d0d0d0d.jsonl',
        `file-history/${OLD}`,
        `todos/${OLD}-agent-${OLD}.json`,
        'sessions/pid-31337.json',
        'plans',
      ].map((p) => join(config, p)),
    );
    rmSync(join(config, 'plans'), { recursive: true });
    const nowhere: ClaudeSession = { ...legacy, sessionId: 'abc', cwd: '/nowhere', pid: 99 };
    expect((await sessionArchiveSet(env, nowhere))._unsafeUnwrap().sources).toEqual([]);
    const unsafe: ClaudeSession = { ...legacy, sessionId: '..' };
    expect((await sessionArchiveSet(env, unsafe))._unsafeUnwrapErr().kind).toBe('unsafe');
  });

  it('never lets a credentials file into the archive', async () => {
    const planted = join(config, 'projects/-work-app', SID, '.credentials.json');
    writeFileSync(planted, readFileSync(join(config, '.credentials.json')));
    mkdirSync(join(config, 'plans/nested'));
    writeFileSync(join(config, 'plans/nested/.credentials.json'), '{"token":"FIXTURE"}');
    const session = (await readSessionFor(48213, env))._unsafeUnwrap() as ClaudeSession;
    const set = (await sessionArchiveSet(env, session))._unsafeUnwrap();
    const archived = await archiveSession({
      sources: set.sources,
      exclude: set.exclude,
      extraManifest: set.extraManifest,
      archiveRoot: join(work, 'archives'),
      reason: 'test',
      nowMs: Date.now(),
      deadlineMs: Number.MAX_SAFE_INTEGER,
    });
    const dir = archived._unsafeUnwrap().dir;
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.files.some((f) => f.path.endsWith('.credentials.json'))).toBe(false);
    expect(manifest.skipped.filter((s) => s.path.endsWith('.credentials.json'))).toHaveLength(2);
    expect(manifest.files).toHaveLength(12);
    const everything = (readdirSync(dir, { recursive: true }) as string[]).filter((p) =>
      statSync(join(dir, p)).isFile(),
    );
    for (const path of everything) {
      expect(readFileSync(join(dir, path), 'utf8')).not.toContain('NOT-A-SECRET');
    }
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    const transcript = join(config, `projects/-work-app/${SID}.jsonl`);
    expect(manifest.files.find((f) => f.path === transcript)?.sha256).toBe(sha(transcript));
  });
});

describe('resumeCommand', () => {
  it('resumes from the recorded cwd, quoted for display only', () => {
    expect(resumeCommand({ cwd: '/work/app', sessionId: SID })).toEqual({
      cwd: '/work/app',
      argv: ['claude', '--resume', SID],
      display: `cd '/work/app' && claude --resume ${SID}`,
    });
    expect(resumeCommand({ cwd: "/work/it's here", sessionId: SID }).display).toBe(
      `cd '/work/it'\\''s here' && claude --resume ${SID}`,
    );
  });
});
