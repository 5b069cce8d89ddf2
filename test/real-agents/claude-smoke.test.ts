// The real Claude Code CLI (pinned by scripts/install-agent-clis.sh) in tmux, offline against
// our fake Anthropic API: the facts memgov's claude-code profile relies on, checked on the real
// thing. A missing binary FAILS the file: CI installs it in .ci/run, so a silent skip would hide
// that the real CLI was never run.
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startFakeAnthropic,
  type FakeAnthropic,
  lastUserText,
} from '../support/fake-anthropic.ts';
import { claudeBinaryPath, startRealClaude, type RealClaude } from '../support/real-claude.ts';
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

beforeAll(() => {
  if (!existsSync(claudeBinaryPath()))
    throw new Error(
      `the real Claude Code CLI is not installed at ${claudeBinaryPath()}: run scripts/install-agent-clis.sh`,
    );
});

afterEach(async () => {
  for (const { claude, fake } of started.splice(0)) {
    claude?.stop();
    await fake?.close();
  }
});

describe('the real claude CLI against the fake Anthropic API', () => {
  it('answers a prompt: the fake saw it, the transcript holds the reply', async () => {
    const { claude, fake } = await launch();
    const session = await claude.waitForIdle(30_000);
    await claude.sendLine('PROMPT-ONE say hello');
    await until('the prompt at the fake', 20_000, () =>
      fake.messageRequests().find((r) => lastUserText(r.body).includes('PROMPT-ONE')),
    );
    await until('the reply in the transcript', 20_000, () =>
      hasText(claude.readTranscript(session.sessionId), fake.mode.replyText) ? true : undefined,
    );
    expect(fake.requests.some((r) => r.method === 'HEAD' && r.path === '/')).toBe(true);
  }, 60_000);
});
