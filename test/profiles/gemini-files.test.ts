// The gemini profile's reading of Gemini CLI 0.61.0's chat files and pane (docs/AGENTS.md,
// "Gemini CLI"), on files shaped as the real CLI writes them: a resume's stub shares the
// conversation's sessionId and is newer; /clear leaves the conversation in the session before.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findGeminiSession } from '../../agents/gemini.ts';
import { currentChat, geminiConversation, listGeminiChats } from '../../agents/gemini-files.ts';
import { findGeminiProcess, runsGemini } from '../../agents/gemini-process.ts';
import { compressOutcome, lastMessageType } from '../../agents/gemini-probe.ts';
import { identify, readProcessArgv } from '../../adapters/proc.ts';
import { pause } from '../../lib/time.ts';

let home: string;
let chats: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'memgov-gemini-files-'));
  chats = join(home, '.gemini', 'tmp', 'app', 'chats');
  mkdirSync(chats, { recursive: true });
  writeFileSync(
    join(home, '.gemini', 'projects.json'),
    JSON.stringify({ projects: { '/work/app': 'app' } }),
  );
});

afterEach(() => rmSync(home, { recursive: true, force: true }));

const meta = (sessionId: string) => JSON.stringify({ sessionId, kind: 'main' });
const user = (text: string) => JSON.stringify({ type: 'user', content: [{ text }] });
const answer = (text: string) => JSON.stringify({ type: 'gemini', content: text });

/** Writes a chat file with these lines and mtime (seconds). */
function chat(name: string, lines: string[], mtimeS: number): string {
  const path = join(chats, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  utimesSync(path, mtimeS, mtimeS);
  return path;
}

describe('gemini chat files', () => {
  it('a resume stub (same id, newer, no turn) is never the session file', async () => {
    const real = chat(
      'session-2026-12-03T14-58-09d9afe1.jsonl',
      [meta('09d9afe1-full'), user('PROMPT-1'), answer('reply'), user('PROMPT-2'), answer('r2')],
      1000,
    );
    chat('session-2026-12-03T15-26-09d9afe1.jsonl', [meta('09d9afe1-full'), '{"$set":{}}'], 1001);
    const found = (await findGeminiSession({ HOME: home }, '/work/app'))._unsafeUnwrap();
    expect(found).toMatchObject({ sessionId: '09d9afe1-full', path: real });
  });

  it('after /clear the new session is live, and the conversation is the one before', async () => {
    chat(
      'session-2026-12-03T14-58-aaaaaaaa.jsonl',
      [meta('aaaaaaaa-conv'), user('PROMPT-1'), answer('<state_snapshot>s</state_snapshot>')],
      1000,
    );
    const cleared = chat('session-2026-12-03T15-26-bbbbbbbb.jsonl', [meta('bbbbbbbb-new')], 1002);
    const list = (await listGeminiChats(chats))._unsafeUnwrap();
    expect(currentChat(list)?.path).toBe(cleared);
    // The lineage may name a session whose file the CLI deleted on exit (nothing sent after
    // /clear): it is never picked.
    const lineage = ['aaaaaaaa-conv', 'bbbbbbbb-new', 'cccccccc-deleted'];
    expect(await geminiConversation(lineage, list)).toEqual({
      sessionId: 'aaaaaaaa-conv',
      why: 'it holds the latest /compress summary',
    });
    expect(await geminiConversation(['bbbbbbbb-new'], list)).toBeNull();
  });

  it('busy while the last message is the user turn; /compress by its own result lines', () => {
    expect(
      lastMessageType([meta('x'), user('hi'), '{"$set":{"lastUpdated":"t"}}'].join('\n')),
    ).toBe('user');
    expect(lastMessageType([meta('x'), user('hi'), answer('yo'), ''].join('\n'))).toBe('gemini');
    const typed = ' > /compress\n';
    expect(compressOutcome(' > /compress', '/compress')).toEqual({ kind: 'pending' });
    expect(
      compressOutcome(
        `${typed}✦ Chat history compressed from 277092 to 65709 tokens.`,
        '/compress',
      ),
    ).toMatchObject({ kind: 'done' });
    expect(compressOutcome(`${typed}✦ Nothing to compress.`, '/compress')).toEqual({
      kind: 'failed',
      detail: 'gemini: Nothing to compress.',
    });
    // An earlier compression above the typed command is not this one's result.
    const earlier = `✦ Chat history compressed from 9 to 1 tokens.\n${typed}`;
    expect(compressOutcome(earlier, '/compress')).toEqual({ kind: 'pending' });
  });
});

describe('which process is gemini', () => {
  it('the relaunched child below the wrapper, below a shell; argv decides, not the name', async () => {
    // shell -> "wrapper" (argv0 /opt/gemini) -> "child" (argv0 /opt/gemini), as 0.61.0 runs.
    const inner = 'exec -a /opt/gemini sleep 30 & wait';
    const shell = spawn('bash', ['-c', `bash -c 'exec -a /opt/gemini bash -c "${inner}"'; true`], {
      stdio: 'ignore',
      // Its own process group, so the test ends the three processes at once.
      detached: true,
    });
    try {
      const root = identify(shell.pid ?? -1)._unsafeUnwrap();
      // Until the child starts, the wrapper is the one found; then the child, for good.
      const argv = await pollFor(async () => {
        const found = await findGeminiProcess(root);
        const args = found === null ? [] : (await readProcessArgv(found.pid)).unwrapOr([]);
        return args[1] === '30' ? args : null;
      });
      expect(argv).toEqual(['/opt/gemini', '30']);
      expect(runsGemini(['node', '/x/node_modules/.bin/gemini', '--resume', 'latest'])).toBe(true);
      expect(runsGemini(['node', '/x/app.js', 'gemini-notes'])).toBe(false);
    } finally {
      process.kill(-(shell.pid ?? 0), 'SIGKILL');
    }
  });
});

/** Polls `look` every 50 ms for up to 5 s until it finds something. */
async function pollFor<T>(look: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < 100; i += 1) {
    const found = await look();
    if (found !== null) return found;
    await pause(50);
  }
  throw new Error('not found in 5 s');
}
