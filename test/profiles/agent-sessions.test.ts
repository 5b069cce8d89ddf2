// The other agent CLIs' session locations, on trees laid out like theirs in a temp directory, the
// resume commands a manifest implies, and the display quoting checked against a real POSIX shell.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  aiderHistoryPath,
  aiderResumeCommand,
  findAiderHistory,
  gitRootOf,
  historyAwaitsAnswer,
} from '../../agents/aider.ts';
import {
  codexHome,
  codexResumeCommand,
  findCodexSession,
  parseCodexMeta,
  parseRolloutName,
} from '../../agents/codex.ts';
import {
  findGeminiChatsDir,
  findGeminiSession,
  geminiDir,
  geminiProjectHash,
  geminiResumeCommand,
  parseGeminiProjects,
} from '../../agents/gemini.ts';
import { resumeFromManifest } from '../../agents/index.ts';
import { displayCommand, shellQuote } from '../../lib/shell.ts';

const A = '5973b6c0-94b8-487b-a530-2aeb6098ae0e';
const B = '0199a1b2-c3d4-4e5f-8a6b-7c8d9e0f1a2b';
const C = '11111111-2222-4333-8444-555555555555';

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'memgov-agents-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function put(path: string, text: string, mtimeSec?: number): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  if (mtimeSec !== undefined) utimesSync(path, mtimeSec, mtimeSec);
  return path;
}

function sessionMeta(id: string, cwd: string, extra: Record<string, unknown> = {}): string {
  const payload = {
    id,
    timestamp: '2026-08-17T09:00:00.000Z',
    cwd,
    cli_version: '0.65.0',
    ...extra,
  };
  return `${JSON.stringify({ timestamp: '2026-08-17T09:00:00.000Z', type: 'session_meta', payload })}\n`;
}

describe('codex', () => {
  it('lives in $CODEX_HOME, else ~/.codex', () => {
    expect(codexHome({ CODEX_HOME: '/data/codex', HOME: '/h' })).toBe('/data/codex');
    expect(codexHome({ HOME: '/h' })).toBe('/h/.codex');
  });

  it('parses rollout names and both forms of the first record', () => {
    expect(parseRolloutName(`rollout-2026-08-17T09-00-00-${A}.jsonl`)).toEqual({
      timestamp: '2026-08-17T09-00-00',
      id: A,
    });
    expect(parseRolloutName('rollout-x.jsonl')).toBeNull();
    expect(parseCodexMeta(sessionMeta(A, '/work/app'))).toEqual({ id: A, cwd: '/work/app' });
    expect(
      parseCodexMeta(`${JSON.stringify({ id: C, timestamp: 't', instructions: '' })}\n`),
    ).toEqual({
      id: C,
      cwd: null,
    });
    // Long instructions cut the line at the read limit: the fields before them still count.
    const cut = sessionMeta(A, '/work/"q"', { instructions: 'i'.repeat(100_000) }).slice(0, 65_536);
    expect(parseCodexMeta(cut)).toEqual({ id: A, cwd: '/work/"q"' });
    fc.assert(fc.property(fc.string(), (text) => void parseCodexMeta(text)));
  });

  it('finds the most recently written rollout of the cwd', async () => {
    const home = join(work, 'codex');
    const env = { CODEX_HOME: home };
    const sessions = join(home, 'sessions');
    // A was started a day earlier but resumed: it was written last.
    const a = put(
      join(sessions, `2026/08/16/rollout-2026-08-16T10-00-00-${A}.jsonl`),
      sessionMeta(A, '/work/app'),
      1786990000,
    );
    const b = put(
      join(sessions, `2026/08/17/rollout-2026-08-17T09-00-00-${B}.jsonl`),
      sessionMeta(B, '/work/other'),
      1786980000,
    );
    put(
      join(sessions, `2026/08/17/rollout-2026-08-17T08-00-00-${C}.jsonl`),
      `${JSON.stringify({ id: C })}\n`,
      1786970000,
    );
    put(join(sessions, '2026/08/17/notes.txt'), 'not a rollout');
    expect((await findCodexSession(env))._unsafeUnwrap()).toMatchObject({ path: a, sessionId: A });
    expect((await findCodexSession(env, { cwd: '/work/other' }))._unsafeUnwrap()).toEqual({
      profile: 'codex',
      sessionId: B,
      cwd: '/work/other',
      path: b,
      mtimeMs: 1786980000 * 1000,
    });
    expect((await findCodexSession(env, { cwd: '/work/none' }))._unsafeUnwrap()).toBeNull();
    // Only the newest names are looked at: with one, A (the oldest name) is out of reach.
    expect(
      (await findCodexSession(env, { cwd: '/work/app', scanFiles: 1 }))._unsafeUnwrap(),
    ).toBeNull();
    expect((await findCodexSession({ CODEX_HOME: join(work, 'none') }))._unsafeUnwrap()).toBeNull();
  });

  it('resumes by id from the cwd', () => {
    expect(codexResumeCommand({ cwd: '/work/app', sessionId: A })).toEqual({
      cwd: '/work/app',
      argv: ['codex', 'resume', A],
      display: `cd '/work/app' && codex resume ${A}`,
    });
  });
});

describe('gemini', () => {
  const chat = (id: string) =>
    `${JSON.stringify({ sessionId: id, projectHash: 'h', startTime: '2026-08-17T05:40:00Z', kind: 'main' })}\n`;

  it('lives in $GEMINI_CLI_HOME/.gemini, else ~/.gemini', () => {
    expect(geminiDir({ GEMINI_CLI_HOME: '/data', HOME: '/h' })).toBe('/data/.gemini');
    expect(geminiDir({ HOME: '/h' })).toBe('/h/.gemini');
    expect(geminiProjectHash('/work/app')).toMatch(/^[0-9a-f]{64}$/);
    expect([...parseGeminiProjects('{"projects":{"/a":"a","/b":"../x","/c":3}}')]).toEqual([
      ['/a', 'a'],
    ]);
    expect(parseGeminiProjects('nope').size).toBe(0);
  });

  it('finds the chats of a cwd by slug, by hash, or by its .project_root marker', async () => {
    const env = { GEMINI_CLI_HOME: work };
    const tmp = join(work, '.gemini', 'tmp');
    put(
      join(work, '.gemini', 'projects.json'),
      JSON.stringify({ projects: { '/work/app': 'app' } }),
    );
    put(
      join(tmp, 'app', 'chats', 'session-2026-08-16T10-00-aaaa1111.json'),
      JSON.stringify({ sessionId: 'old-one', messages: [] }),
      1786900000,
    );
    const newest = put(
      join(tmp, 'app', 'chats', 'session-2026-08-17T05-40-bbbb2222.jsonl'),
      chat('b2c3d4e5'),
      1786990000,
    );
    put(
      join(tmp, geminiProjectHash('/work/old'), 'chats', 'session-2026-01-01T00-00-cccc3333.json'),
      JSON.stringify({ sessionId: 'c3', messages: [] }),
    );
    put(join(tmp, 'marked-1', '.project_root'), '/work/marked\n');
    put(join(tmp, 'marked-1', 'chats', 'session-2026-08-17T06-00-dddd4444.jsonl'), chat('d4'));

    expect((await findGeminiSession(env, '/work/app'))._unsafeUnwrap()).toEqual({
      profile: 'gemini',
      sessionId: 'b2c3d4e5',
      cwd: '/work/app',
      path: newest,
      mtimeMs: 1786990000 * 1000,
    });
    expect((await findGeminiSession(env, '/work/old'))._unsafeUnwrap()?.sessionId).toBe('c3');
    expect((await findGeminiChatsDir(env, '/work/marked'))._unsafeUnwrap()).toBe(
      join(tmp, 'marked-1', 'chats'),
    );
    expect((await findGeminiSession(env, '/work/marked'))._unsafeUnwrap()?.sessionId).toBe('d4');
    expect((await findGeminiSession(env, '/work/none'))._unsafeUnwrap()).toBeNull();
  });

  it('resumes by id, or the latest without one', () => {
    expect(geminiResumeCommand({ cwd: '/w', sessionId: 'b2c3' }).display).toBe(
      "cd '/w' && gemini --resume b2c3",
    );
    expect(geminiResumeCommand({ cwd: '/w', sessionId: null }).argv).toEqual([
      'gemini',
      '--resume',
      'latest',
    ]);
  });
});

describe('aider', () => {
  it('keeps its history in the cwd, or where AIDER_CHAT_HISTORY_FILE says', async () => {
    expect(aiderHistoryPath({}, '/work/app')).toBe('/work/app/.aider.chat.history.md');
    expect(aiderHistoryPath({ AIDER_CHAT_HISTORY_FILE: 'logs/chat.md' }, '/work/app')).toBe(
      '/work/app/logs/chat.md',
    );
    expect(aiderHistoryPath({ AIDER_CHAT_HISTORY_FILE: '/var/chat.md' }, '/work/app')).toBe(
      '/var/chat.md',
    );
    const path = put(
      join(work, '.aider.chat.history.md'),
      '# aider chat started at 2026-08-17\n',
      1786990000,
    );
    expect((await findAiderHistory({}, work))._unsafeUnwrap()).toEqual({
      profile: 'aider',
      sessionId: null,
      cwd: work,
      path,
      mtimeMs: 1786990000 * 1000,
    });
    expect((await findAiderHistory({}, join(work, 'none')))._unsafeUnwrap()).toBeNull();
    expect(aiderResumeCommand({ cwd: '/work/app' }).display).toBe(
      "cd '/work/app' && aider --restore-chat-history",
    );
  });
});

describe('aider, as its source says', () => {
  it('keeps its history at the git root, unless --chat-history-file or the variable moves it', async () => {
    const repo = join(work, 'repo');
    mkdirSync(join(repo, '.git'), { recursive: true });
    mkdirSync(join(repo, 'src', 'deep'), { recursive: true });
    const cwd = join(repo, 'src', 'deep');
    expect(await gitRootOf(cwd)).toBe(repo);
    expect(aiderHistoryPath({}, cwd, [], await gitRootOf(cwd))).toBe(
      join(repo, '.aider.chat.history.md'),
    );
    const argv = ['aider', '--chat-history-file', 'notes/chat.md'];
    expect(aiderHistoryPath({ AIDER_CHAT_HISTORY_FILE: 'x.md' }, cwd, argv, repo)).toBe(
      join(cwd, 'notes/chat.md'),
    );
    expect(aiderHistoryPath({}, cwd, ['aider', '--chat-history-file=/var/c.md'], repo)).toBe(
      '/var/c.md',
    );
    expect(aiderHistoryPath({ AIDER_CHAT_HISTORY_FILE: 'x.md' }, cwd, [], repo)).toBe(
      join(cwd, 'x.md'),
    );
    // A worktree's .git is a file.
    const tree = join(work, 'tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, '.git'), 'gitdir: /elsewhere\n');
    expect(await gitRootOf(tree)).toBe(tree);
    expect(await gitRootOf('/proc/self')).toBeNull();
    const history = put(join(repo, '.aider.chat.history.md'), '#### hello\n', 1786990000);
    expect((await findAiderHistory({}, cwd))._unsafeUnwrap()?.path).toBe(history);
  });

  it('is busy while a sent message waits for its streamed answer', () => {
    const sent = '# aider chat started at 2026-08-17\n\n#### explain the build  \n';
    expect(historyAwaitsAnswer(sent)).toBe(true);
    expect(historyAwaitsAnswer(`${sent}\n> Repo-map can't include /x\n`)).toBe(true);
    const answered = `${sent}\nThe build runs tsc.\n\n> Tokens: 2.1k sent, 40 received.\n`;
    expect(historyAwaitsAnswer(answered)).toBe(false);
    expect(historyAwaitsAnswer(`${answered}\n#### /clear\n\n> All chat history cleared.\n`)).toBe(
      false,
    );
    expect(historyAwaitsAnswer(`${answered}\n#### /clear\n`)).toBe(false);
    expect(historyAwaitsAnswer('')).toBe(false);
  });
});

describe('resumeFromManifest', () => {
  const sid = '3f2b8c1e-7d4a-4e5b-9c6d-1a2b3c4d5e6f';

  it.each([
    [
      { profile: 'claude-code', sessionId: sid, cwd: '/work/app' },
      `cd '/work/app' && claude --resume ${sid}`,
    ],
    [{ sessionId: sid, cwd: '/work/app', agentPid: 4 }, `cd '/work/app' && claude --resume ${sid}`],
    [{ profile: 'codex', sessionId: A, cwd: '/w' }, `cd '/w' && codex resume ${A}`],
    [{ profile: 'gemini', sessionId: null, cwd: '/w' }, "cd '/w' && gemini --resume latest"],
    [{ profile: 'aider', cwd: '/w' }, "cd '/w' && aider --restore-chat-history"],
  ])('%j → %s', (manifest, display) => {
    expect(resumeFromManifest(manifest)?.command.display).toBe(display);
  });

  it.each([
    [{ reason: 'tier3', agentPid: 4 }],
    [{ profile: 'claude-code', cwd: '/work/app' }],
    [{ profile: 'claude-code', sessionId: '../x', cwd: '/work/app' }],
    [{ profile: 'claude-code', sessionId: sid, cwd: 'work/app' }],
    [{ profile: 'codex', cwd: '/w' }],
    [{ profile: 'emacs', sessionId: sid, cwd: '/w' }],
  ])('%j names no session to resume', (manifest) => {
    expect(resumeFromManifest(manifest)).toBeNull();
  });
});

describe('display quoting', () => {
  const sh = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8' });

  it('round-trips any word through a POSIX shell', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0')),
        (word) => {
          expect(sh(`printf %s ${shellQuote(word)}`).stdout).toBe(word);
        },
      ),
      { numRuns: 60 },
    );
    expect(shellQuote('3f2b8c1e-7d4a')).toBe('3f2b8c1e-7d4a');
    expect(shellQuote('')).toBe("''");
  });

  it('changes into a hostile directory name and nowhere else', () => {
    const dir = join(work, `it's a "dir" $HOME; rm -rf x`);
    mkdirSync(dir);
    const run = sh(displayCommand(dir, ['pwd']));
    expect(run.stdout).toBe(`${dir}\n`);
    expect(run.status).toBe(0);
  });
});
