// memgov launching the real Codex CLI 0.171.0 in tmux (`memgov run -- codex`), offline against
// test/support/fake-openai.ts. The ladder as it really goes: /compact typed only once a streaming
// answer ended (the pane shows no busy marker while it streams), /new starting a new thread,
// archive and SIGTERM leaving no process of the CLI (the app-server daemon included), and the
// relaunch resuming the thread that holds the conversation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRecord } from '../../lib/record.ts';
import { pollUntil } from '../support/daemon.ts';
import {
  CODEX_SUMMARY_MARKER,
  isCompactionRequest,
  startFakeOpenAI,
} from '../support/fake-openai.ts';
import { startFixtureDaemon } from '../support/fixture-daemon.ts';
import {
  archiveDirOf,
  archivedFilesHolding,
  endAll,
  onCleanup,
  resultOf,
} from '../support/real-claude-memgov.ts';
import {
  prepareRealCodex,
  realCodexIn,
  requireCodexBinary,
  sendTurn,
  socketName,
  survivors,
  type RealCodex,
} from '../support/real-codex.ts';

beforeAll(requireCodexBinary);
afterEach(endAll);

async function launchedCodex() {
  const fake = await startFakeOpenAI();
  onCleanup(() => fake.close());
  const setup = prepareRealCodex(fake.baseUrl);
  const socket = socketName();
  const codex = realCodexIn(setup, socket, `memgov-agent-${process.pid}`);
  onCleanup(() => codex.stop());
  const daemon = startFixtureDaemon({
    initialRatio: 0.3,
    env: { HOME: setup.home, CODEX_HOME: setup.codexHome },
    agentCommand: setup.argv,
    cwd: setup.cwd,
    daemon: { agent: { profile: 'codex', transport: 'tmux', tmuxSocket: socket } },
  });
  onCleanup(async () => void (await daemon.stop()));
  await daemon.waitFor('agent started', () => true, 20_000);
  return { codex, fake, daemon };
}

/** Samples the pane every 100 ms: when, and whether /compact stood after the prompt sign. */
function watchPane(codex: RealCodex) {
  const samples: { atMs: number; typed: boolean }[] = [];
  const timer = setInterval(() => {
    const text = codex.capturePane();
    samples.push({ atMs: performance.now(), typed: /›\s*\/compact/.test(text) });
  }, 100);
  return () => {
    clearInterval(timer);
    return samples;
  };
}

function manifestOf(archive: string): Record<string, unknown> {
  const manifest: unknown = JSON.parse(readFileSync(join(archive, 'manifest.json'), 'utf8'));
  if (!isRecord(manifest)) throw new Error('manifest is not an object');
  return manifest;
}

describe('memgov launching the real codex CLI', () => {
  it('compact after the streaming answer, /new, archive+terminate with no process left, resume', async () => {
    const { codex, fake, daemon } = await launchedCodex();
    await sendTurn(codex, fake, 'PROMPT-1 hello');
    // About 6 s of streaming (15 chunks, 400 ms apart); the ratio rises while it streams.
    Object.assign(fake.mode, { chunkDelayMs: 400, chunkCount: 15 });
    fake.mode.replyText = `${'STREAMED '.repeat(30)}END-OF-ANSWER`;
    const streamed = await sendTurn(codex, fake, 'PROMPT-2 stream slowly');
    const stopWatching = watchPane(codex);
    daemon.setRatio(0.75);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 60_000);
    const samples = stopWatching();
    expect(`${String(compact.outcome)}: ${String(compact.detail)}`).toMatch(/^ok: /);
    expect(String(compact.detail)).toMatch(/compaction finished \(a compacted record/);
    const summary = fake.turnRequests().find((r) => isCompactionRequest(r.body));
    expect(summary?.receivedAtMs).toBeGreaterThan(streamed.answeredAtMs ?? Infinity);
    const answeredAtMs = streamed.answeredAtMs ?? 0;
    expect(samples.filter((s) => s.atMs < answeredAtMs).length).toBeGreaterThan(5);
    expect(samples.filter((s) => s.typed && s.atMs < answeredAtMs)).toEqual([]);
    expect(codex.capturePane()).not.toContain('is disabled while a task is in progress');
    const [conversation] = codex.rollouts();
    const conversationId = /([0-9a-f-]{36})\.jsonl$/.exec(conversation ?? '')?.[1];
    expect(codex.records(conversation ?? '').some((r) => r.type === 'compacted')).toBe(true);

    Object.assign(fake.mode, { chunkDelayMs: 0, chunkCount: 1 });
    daemon.setRatio(0.87);
    const clear = await daemon.waitFor('action result', resultOf('clear'), 60_000);
    expect(clear).toMatchObject({ outcome: 'ok' });
    expect(String(clear.detail)).toMatch(/new session \S+ \(was /);

    // The pane's process tree now (codex and anything it started), checked after tier 3 by pid.
    const tree = codex.recordTree();
    expect(tree.length).toBeGreaterThan(0);
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'), 60_000);
    daemon.setRatio(0.3);
    expect(terminate).toMatchObject({ outcome: 'ok' });
    await pollUntil('no process of the codex tree left', 10_000, () =>
      survivors(codex.recorded).length === 0 ? true : undefined,
    );
    const archive = archiveDirOf(terminate.detail);
    expect(archivedFilesHolding(archive, 'PROMPT-1 hello')).not.toEqual([]);
    const manifest = manifestOf(archive);
    expect(manifest.lineage).toHaveLength(2);
    expect(manifest.resumeSessionId).toBe(conversationId);

    const chosen = await daemon.waitFor('resume chosen', () => true, 20_000);
    expect(chosen).toMatchObject({ resume: 'conversation', sessionId: conversationId });
    await daemon.waitFor('agent started', (f) => String(f.command).includes('resume'), 20_000);
    const after = await sendTurn(codex, fake, 'AFTER-RESUME hello');
    const carried = JSON.stringify(after.body);
    expect(carried).toContain('PROMPT-1 hello');
    expect(carried).toContain(CODEX_SUMMARY_MARKER);
    codex.recordTree();
  }, 180_000);
});
