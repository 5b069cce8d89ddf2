// The real Gemini CLI 0.61.0 launched by memgov in tmux (`memgov run -- gemini`), offline against
// the fake Gemini API. The facts of docs/AGENTS.md ("Gemini CLI") that the profile relies on:
// /compress reports "Chat history compressed"; /clear starts a new session file at once while the
// conversation stays in the one before; every resume writes a small stub with the conversation's
// sessionId; the CLI is a wrapper and a node child in one process group; the spinner stays while
// an answer streams.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findGeminiSession } from '../../agents/gemini.ts';
import { isRecord } from '../../lib/record.ts';
import { pollUntil } from '../support/daemon.ts';
import {
  isCompressRequest,
  requestText,
  SNAPSHOT_MARKER,
  startFakeGemini,
} from '../support/fake-gemini-api.ts';
import { startFixtureDaemon } from '../support/fixture-daemon.ts';
import {
  archiveDirOf,
  archivedFilesHolding,
  endAll,
  onCleanup,
  resultOf,
} from '../support/real-claude-memgov.ts';
import {
  geminiSocketName,
  prepareRealGemini,
  realGeminiIn,
  requireGeminiBinary,
  sendGeminiTurn,
  startGeminiInShell,
  stillRuns,
  type RealGemini,
} from '../support/real-gemini.ts';

beforeAll(requireGeminiBinary);

// The CLI's two processes take a moment to end with the daemon.
afterEach(endAll, 30_000);

/** memgov launching the real gemini in tmux, below 70% until the test raises the ratio. */
async function launchedGemini() {
  const fake = await startFakeGemini();
  onCleanup(() => fake.close());
  const setup = prepareRealGemini(fake.baseUrl);
  const socket = geminiSocketName();
  const gemini = realGeminiIn({ ...setup, socket, target: `memgov-agent-${process.pid}` });
  onCleanup(() => gemini.stop());
  const daemon = startFixtureDaemon({
    initialRatio: 0.3,
    env: { HOME: setup.home },
    agentCommand: setup.argv,
    cwd: setup.cwd,
    daemon: { agent: { profile: 'gemini', transport: 'tmux', tmuxSocket: socket } },
  });
  onCleanup(async () => void (await daemon.stop()));
  await daemon.waitFor('agent started', () => true, 20_000);
  return { gemini, fake, daemon, env: { HOME: setup.home } };
}

/** Samples the pane every 100 ms: when, and whether /compress stood after a prompt sign. */
function watchPane(gemini: RealGemini): { stop: () => { atMs: number; typed: boolean }[] } {
  const samples: { atMs: number; typed: boolean }[] = [];
  const timer = setInterval(() => {
    samples.push({ atMs: performance.now(), typed: />\s*\/compress/.test(gemini.capturePane()) });
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

describe('memgov launching the real gemini CLI', () => {
  it('compress, clear, archive and terminate (no process left), relaunch: the conversation resumes', async () => {
    const { gemini, fake, daemon, env } = await launchedGemini();
    for (const turn of [1, 2, 3]) await sendGeminiTurn(gemini, fake, `PROMPT-${turn} hello`);
    await gemini.waitForIdle();
    const [first] = gemini.chatFiles();
    const conversation = first?.sessionId ?? '';
    expect(conversation).not.toBe('');
    daemon.setRatio(0.75);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 60_000);
    expect(compact.outcome).toBe('ok');
    expect(String(compact.detail)).toMatch(/Chat history compressed from \d+ to \d+ tokens/);
    // Two model calls: the snapshot and its verification (measured).
    expect(fake.modelRequests().filter((r) => isCompressRequest(r.body))).toHaveLength(2);
    daemon.setRatio(0.87);
    expect((await daemon.waitFor('action result', resultOf('clear'), 60_000)).outcome).toBe('ok');
    // /clear: a new session file at once, with nothing sent.
    const cleared = await pollUntil(
      'a new session file',
      10_000,
      () => gemini.chatFiles().find((c) => c.sessionId !== conversation)?.sessionId ?? undefined,
    );
    const tree = gemini.recordTree();
    // The wrapper and its `node --max-old-space-size=...` child, at least.
    expect(tree.length).toBeGreaterThanOrEqual(2);
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'), 60_000);
    daemon.setRatio(0.3);
    expect(terminate.outcome).toBe('ok');
    // No process of the CLI is left: every recorded pid (with its start time) is gone.
    await pollUntil('every process of the CLI to exit', 10_000, () =>
      tree.some(stillRuns) ? undefined : true,
    );
    // The archive holds the pre-clear conversation; the manifest the chain and the real id.
    const archive = archiveDirOf(terminate.detail);
    expect(archivedFilesHolding(archive, 'PROMPT-1 hello')).not.toEqual([]);
    const manifest: unknown = JSON.parse(readFileSync(join(archive, 'manifest.json'), 'utf8'));
    if (!isRecord(manifest)) throw new Error('manifest is not an object');
    expect(manifest.lineage).toEqual([conversation, cleared]);
    expect(manifest.resumeSessionId).toBe(conversation);
    // The relaunch resumes the conversation by its id, not the cleared session the banner names.
    const chosen = await daemon.waitFor('resume chosen', () => true, 20_000);
    expect(chosen).toMatchObject({ resume: 'conversation', sessionId: conversation });
    expect(String(chosen.why)).toContain('/compress summary');
    await daemon.waitFor(
      'agent started',
      (f) => String(f.command).includes(`--resume,${conversation}`),
      20_000,
    );
    const turn = await sendGeminiTurn(gemini, fake, 'AFTER-RESUME hello');
    expect(requestText(turn.body)).toContain(SNAPSHOT_MARKER);
    // A resume writes a stub with the conversation's id (its own file when the minute in the name
    // differs): the profile picks the file holding the conversation, the largest of that id.
    const withId = gemini.chatFiles().filter((c) => c.sessionId === conversation);
    const found = (await findGeminiSession(env, gemini.cwd))._unsafeUnwrap();
    expect(found?.sessionId).toBe(conversation);
    expect(readFileSync(found?.path ?? '', 'utf8')).toContain('PROMPT-1 hello');
    const foundBytes = withId.find((c) => c.path === found?.path)?.sizeBytes ?? 0;
    expect(withId.every((c) => c.sizeBytes <= foundBytes)).toBe(true);
  }, 150_000);

  it('no keystroke while an answer streams: /compress is typed only after the answer ends', async () => {
    const { gemini, fake, daemon } = await launchedGemini();
    for (const turn of [1, 2]) await sendGeminiTurn(gemini, fake, `PROMPT-${turn} hello`);
    await gemini.waitForIdle();
    // About 6 s of streaming: 15 chunks, 400 ms apart.
    Object.assign(fake.mode, { chunkDelayMs: 400, chunkCount: 15 });
    // Words that do not repeat: a repeated chunk trips the CLI's loop detection (a dialog).
    const words = Array.from({ length: 60 }, (_, i) => `streamed-word-${i}`);
    fake.mode.replyText = `${words.join(' ')} END-OF-ANSWER`;
    await gemini.sendLine('PROMPT-3 stream slowly');
    await pollUntil('the slow answer to start', 10_000, () =>
      /esc to cancel/.test(gemini.capturePane()) ? true : undefined,
    );
    const pane = watchPane(gemini);
    daemon.setRatio(0.75);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 60_000);
    const samples = pane.stop();
    expect(compact.outcome, String(compact.detail)).toBe('ok');
    const streamed = fake.turnRequests().find((r) => requestText(r.body).includes('PROMPT-3'));
    const compress = fake.modelRequests().find((r) => isCompressRequest(r.body));
    expect(streamed?.answeredAtMs).toBeTypeOf('number');
    expect(compress?.receivedAtMs).toBeGreaterThan(streamed?.answeredAtMs ?? Infinity);
    const answeredAtMs = streamed?.answeredAtMs ?? 0;
    expect(samples.filter((s) => s.atMs < answeredAtMs).length).toBeGreaterThan(5);
    expect(samples.filter((s) => s.typed && s.atMs < answeredAtMs)).toEqual([]);
    expect(samples.some((s) => s.typed)).toBe(true);
  }, 120_000);

  it('a shell in the pane: tier 3 reaches the CLI in its own group, none of it is left, the shell stays', async () => {
    const fake = await startFakeGemini();
    onCleanup(() => fake.close());
    const { gemini, shellPid } = startGeminiInShell(fake.baseUrl);
    onCleanup(() => gemini.stop());
    for (const turn of [1, 2]) await sendGeminiTurn(gemini, fake, `PROMPT-${turn} hello`);
    await gemini.waitForIdle();
    const [shell, ...tree] = gemini.recordTree();
    expect(shell?.pid).toBe(shellPid);
    expect(tree.length).toBeGreaterThanOrEqual(2);
    // Attached by the pane alone: its process is the shell; the CLI is found below it.
    const daemon = startFixtureDaemon({
      initialRatio: 0.95,
      env: { HOME: gemini.home },
      daemon: {
        agent: {
          ...{ profile: 'gemini', transport: 'tmux', tmuxSocket: gemini.socket },
          tmuxTarget: 'main:0.0',
        },
      },
    });
    onCleanup(async () => void (await daemon.stop()));
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'), 60_000);
    daemon.setRatio(0.3);
    expect(terminate.outcome, String(terminate.detail)).toBe('ok');
    expect(archivedFilesHolding(archiveDirOf(terminate.detail), 'PROMPT-1 hello')).not.toEqual([]);
    await pollUntil('every process of the CLI to exit', 10_000, () =>
      tree.some(stillRuns) ? undefined : true,
    );
    // The shell that started it is still there.
    expect(shell !== undefined && stillRuns(shell)).toBe(true);
  }, 90_000);
});
