// memgov itself (runDaemon over a fixture cgroup) against the real Claude Code CLI in tmux,
// offline against the fake Anthropic API: the ratio is set over 70% and the compaction memgov
// types into the real pane must be reported as it really went.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  isSummaryRequest,
  lastUserText,
  requestText,
  SUMMARY_MARKER,
} from '../support/fake-anthropic.ts';
import { runMain } from '../support/cli.ts';
import { requireClaudeBinary, startRealClaude, type RealClaude } from '../support/real-claude.ts';
import {
  archiveDirOf,
  archivedFilesHolding,
  endAll,
  governClaude,
  onCleanup,
  realClaudeWithHistory,
  resultOf,
  sendTurn,
} from '../support/real-claude-memgov.ts';
import { pollUntil } from '../support/daemon.ts';

beforeAll(requireClaudeBinary);

/** Captures the pane every 100 ms: when, and whether /compact stood after the prompt sign. */
function watchPane(claude: RealClaude): { stop: () => { atMs: number; typed: boolean }[] } {
  const samples: { atMs: number; typed: boolean }[] = [];
  const timer = setInterval(() => {
    const atMs = performance.now();
    samples.push({ atMs, typed: /❯\s*\/compact/.test(claude.capturePane()) });
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

afterEach(endAll);

describe('memgov against the real claude CLI', () => {
  it('over 70%: memgov types /compact into the real pane and reports it ok', async () => {
    const { claude } = await realClaudeWithHistory(2);
    const daemon = governClaude(claude);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 60_000);
    expect(compact.outcome).toBe('ok');
    expect(String(compact.detail)).toMatch(/compaction finished.*checkpoint: archived/);
  }, 120_000);

  it('a slow compaction (20 s on the model) is reported ok and checkpointed, not failed', async () => {
    const { claude, fake } = await realClaudeWithHistory(2);
    // The real CLI appends the /compact record only when compaction finishes: "taken" must come
    // from its status turning busy, or this reads as "not taken 3000 ms after Enter".
    fake.mode.summaryDelayMs = 20_000;
    const daemon = governClaude(claude);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 90_000);
    expect(compact.outcome).toBe('ok');
    expect(String(compact.detail)).toMatch(/compaction finished.*checkpoint: archived/);
    expect(fake.messageRequests().some((r) => lastUserText(r.body).length > 0)).toBe(true);
  }, 150_000);

  it('a refused compact (one exchange only) is recorded as failed with the CLI words', async () => {
    const { claude } = await realClaudeWithHistory(1);
    const daemon = governClaude(claude);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 60_000);
    expect(compact.outcome).toBe('failed');
    expect(String(compact.detail)).toContain('Not enough messages to compact.');
  }, 120_000);

  it('the whole ladder: compact, clear, then archive and SIGTERM; the real claude exits', async () => {
    const { claude } = await realClaudeWithHistory(2);
    const claudePid = claude.findClaudePid() ?? -1;
    const daemon = governClaude(claude);
    expect((await daemon.waitFor('action result', resultOf('compact'), 60_000)).outcome).toBe('ok');
    daemon.setRatio(0.87);
    expect((await daemon.waitFor('action result', resultOf('clear'), 60_000)).outcome).toBe('ok');
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'), 60_000);
    expect(terminate.outcome).toBe('ok');
    await pollUntil('claude to exit', 10_000, () =>
      existsSync(`/proc/${claudePid}`) ? undefined : true,
    );
  }, 120_000);

  it('a shell in the pane: claude is found below it, the ladder reaches it, and it exits', async () => {
    const { claude } = await realClaudeWithHistory(2, { viaShell: true });
    const claudePid = claude.findClaudePid() ?? -1;
    expect(claudePid).not.toBe(claude.panePid);
    // Attached by the pane alone: the pane's process is bash, which has no sessions/<pid>.json.
    const daemon = governClaude(claude, {}, 'pane');
    const compact = await daemon.waitFor('action result', resultOf('compact'), 60_000);
    expect(compact.outcome).toBe('ok');
    expect(archivedFilesHolding(archiveDirOf(compact.detail), 'PROMPT-1 hello')).not.toEqual([]);
    daemon.setRatio(0.87);
    expect((await daemon.waitFor('action result', resultOf('clear'), 60_000)).outcome).toBe('ok');
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'), 60_000);
    expect(terminate.outcome).toBe('ok');
    expect(String(terminate.detail)).toContain('the agent exited');
    await pollUntil('claude to exit', 10_000, () =>
      existsSync(`/proc/${claudePid}`) ? undefined : true,
    );
    // The shell that started it is still there: only claude's own process group was signalled.
    expect(existsSync(`/proc/${claude.panePid}`)).toBe(true);
  }, 150_000);

  it('no keystroke while an answer streams: /compact is typed only after the answer ends', async () => {
    const { claude, fake } = await realClaudeWithHistory(2);
    // About 6 s of streaming: 15 chunks, 400 ms apart.
    Object.assign(fake.mode, { chunkDelayMs: 400, chunkCount: 15 });
    fake.mode.replyText = `${'STREAMED '.repeat(30)}END-OF-ANSWER`;
    await sendTurn(claude, fake, 'PROMPT-3 stream slowly');
    const pane = watchPane(claude);
    const daemon = governClaude(claude);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 90_000);
    const samples = pane.stop();
    expect(compact.outcome).toBe('ok');
    const requests = fake.messageRequests();
    const streamed = requests.find((r) => lastUserText(r.body).includes('PROMPT-3'));
    const summary = requests.find((r) => isSummaryRequest(r.body));
    expect(streamed?.answeredAtMs).toBeTypeOf('number');
    expect(summary?.receivedAtMs).toBeGreaterThan(streamed?.answeredAtMs ?? Infinity);
    // The pane, sampled all along: /compact shows after the prompt sign only once the answer
    // ended (the real CLI would queue a command typed mid-answer, so the requests alone cannot
    // tell).
    const answeredAtMs = streamed?.answeredAtMs ?? 0;
    expect(samples.filter((s) => s.atMs < answeredAtMs).length).toBeGreaterThan(5);
    expect(samples.filter((s) => s.typed && s.atMs < answeredAtMs)).toEqual([]);
    expect(samples.some((s) => s.typed)).toBe(true);
    // The answer was not cut: its end is in the transcript, nothing interrupted it, and the
    // /compact record comes after it.
    const sessionId = claude.readSessionFile(claude.findClaudePid() ?? -1)?.sessionId ?? '';
    const lines = claude.readTranscript(sessionId).map((r) => JSON.stringify(r));
    const answerAt = lines.findIndex((l) => l.includes('END-OF-ANSWER'));
    const compactAt = lines.findIndex((l) => l.includes('<command-name>/compact</command-name>'));
    expect(answerAt).toBeGreaterThanOrEqual(0);
    expect(compactAt).toBeGreaterThan(answerAt);
    expect(lines.some((l) => l.includes('Request interrupted'))).toBe(false);
  }, 120_000);

  it('a lost transcript: memgov restore brings it back from the checkpoint, and claude resumes it', async () => {
    const { claude, fake } = await realClaudeWithHistory(2);
    const claudePid = claude.findClaudePid() ?? -1;
    const { sessionId } = await claude.waitForIdle();
    const daemon = governClaude(claude);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 60_000);
    expect(compact.outcome).toBe('ok');
    const checkpoint = archiveDirOf(compact.detail);
    daemon.setRatio(0.3);
    process.kill(-claudePid, 'SIGTERM');
    await pollUntil('claude to exit', 10_000, () =>
      existsSync(`/proc/${claudePid}`) ? undefined : true,
    );
    const transcript = claude.transcriptPath(sessionId) ?? '';
    rmSync(transcript);
    const restore = await runMain(['restore', checkpoint]);
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(readFileSync(transcript, 'utf8')).toContain(SUMMARY_MARKER);
    expect(restore.stdout).toContain(`claude --resume ${sessionId}`);
    // The printed command, run for real in the same HOME and cwd.
    const resumed = startRealClaude({
      baseUrl: fake.baseUrl,
      reuse: { home: claude.home, cwd: claude.cwd },
      extraArgs: ['--resume', sessionId],
    });
    onCleanup(() => resumed.stop());
    const turn = await sendTurn(resumed, fake, 'AFTER-RESTORE hello');
    expect(requestText(turn.body)).toContain(SUMMARY_MARKER);
    expect(resumed.readSessionFile(resumed.findClaudePid() ?? -1)?.sessionId).toBe(sessionId);
  }, 120_000);
});
