// The real Claude Code CLI (pinned by scripts/install-agent-clis.sh) in tmux, offline against
// our fake Anthropic API: the facts memgov's claude-code profile relies on, checked on the real
// thing. A missing binary FAILS the file: CI installs it in .ci/run, so a silent skip would hide
// that the real CLI was never run.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startFakeAnthropic,
  type FakeAnthropic,
  isSummaryRequest,
  lastUserText,
  SUMMARY_MARKER,
} from '../support/fake-anthropic.ts';
import { requireClaudeBinary, startRealClaude, type RealClaude } from '../support/real-claude.ts';
import { pause } from '../../lib/time.ts';

const started: { claude?: RealClaude; fake?: FakeAnthropic }[] = [];

async function launch(): Promise<{ claude: RealClaude; fake: FakeAnthropic }> {
  const fake = await startFakeAnthropic();
  const claude = startRealClaude({ baseUrl: fake.baseUrl });
  started.push({ claude, fake });
  return { claude, fake };
}

/** Polls `check` every 200 ms until it returns a value, or fails after `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`);
    await pause(200);
  }
}

function hasText(records: Record<string, unknown>[], text: string): boolean {
  return records.some((r) => JSON.stringify(r).includes(text));
}

beforeAll(requireClaudeBinary);

afterEach(async () => {
  for (const { claude, fake } of started.splice(0)) {
    claude?.stop();
    await fake?.close();
  }
});

/** Sends one prompt and waits until its reply is in the transcript; returns the session. */
async function exchange(claude: RealClaude, fake: FakeAnthropic, prompt: string) {
  const session = await claude.waitForIdle(30_000);
  fake.mode.replyText = `FAKE-REPLY to ${prompt}`;
  await claude.sendLine(prompt);
  await until('the prompt at the fake', 20_000, () =>
    fake.messageRequests().find((r) => lastUserText(r.body).includes(prompt)),
  );
  await until('the reply in the transcript', 20_000, () =>
    hasText(claude.readTranscript(session.sessionId), fake.mode.replyText) ? true : undefined,
  );
  return session;
}

describe('the real claude CLI against the fake Anthropic API', () => {
  it('answers a prompt: the fake saw it, the transcript holds the reply', async () => {
    const { claude, fake } = await launch();
    await exchange(claude, fake, 'PROMPT-ONE say hello');
    expect(fake.requests.some((r) => r.method === 'HEAD' && r.path === '/')).toBe(true);
  }, 60_000);

  it('/compact typed in the pane writes compact_boundary and an isCompactSummary record', async () => {
    const { claude, fake } = await launch();
    // After one exchange the real CLI refuses: "Not enough messages to compact."
    const session = await exchange(claude, fake, 'PROMPT-TWO say hello');
    await exchange(claude, fake, 'PROMPT-TWO-B say hello again');
    await claude.waitForIdle(20_000);
    await claude.sendLine('/compact');
    const records = await until('compact_boundary', 60_000, () => {
      const all = claude.readTranscript(session.sessionId);
      return all.some((r) => r.isCompactSummary === true) ? all : undefined;
    });
    expect(records.some((r) => r.type === 'system' && r.subtype === 'compact_boundary')).toBe(true);
    const summary = records.find((r) => r.isCompactSummary === true);
    expect(JSON.stringify(summary)).toContain(SUMMARY_MARKER);
    expect(fake.messageRequests().some((r) => isSummaryRequest(r.body))).toBe(true);
  }, 90_000);

  it('/clear changes the session id and leaves the old transcript on disk', async () => {
    const { claude, fake } = await launch();
    const before = await exchange(claude, fake, 'PROMPT-THREE say hello');
    await claude.waitForIdle(20_000);
    const pid = claude.findClaudePid() ?? -1;
    await claude.sendLine('/clear');
    const after = await until('a new session id', 20_000, () => {
      const now = claude.readSessionFile(pid);
      return now !== undefined && now.sessionId !== before.sessionId ? now : undefined;
    });
    expect(after.sessionId).not.toBe(before.sessionId);
    const old = claude.readTranscript(before.sessionId);
    expect(hasText(old, 'PROMPT-THREE')).toBe(true);
    expect(hasText(old, fake.mode.replyText)).toBe(true);
  }, 60_000);
});
