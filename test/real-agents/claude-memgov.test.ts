// memgov itself (runDaemon over a fixture cgroup) against the real Claude Code CLI in tmux,
// offline against the fake Anthropic API: the ratio is set over 70% and the compaction memgov
// types into the real pane must be reported as it really went.
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic, lastUserText } from '../support/fake-anthropic.ts';
import { requireClaudeBinary, startRealClaude, type RealClaude } from '../support/real-claude.ts';
import { startFixtureDaemon, type FixtureDaemon } from '../support/fixture-daemon.ts';
import { pollUntil } from '../support/daemon.ts';

const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(requireClaudeBinary);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function realClaudeWithHistory(
  turns: number,
): Promise<{ claude: RealClaude; fake: FakeAnthropic }> {
  const fake = await startFakeAnthropic();
  cleanups.push(() => fake.close());
  const claude = startRealClaude({ baseUrl: fake.baseUrl });
  cleanups.push(() => claude.stop());
  for (let turn = 1; turn <= turns; turn += 1) {
    await claude.waitForIdle(30_000);
    const prompt = `PROMPT-${turn} hello`;
    await claude.sendLine(prompt);
    await pollUntil(`turn ${turn} at the fake`, 20_000, () =>
      fake.messageRequests().find((r) => lastUserText(r.body).includes(prompt)),
    );
  }
  await claude.waitForIdle(30_000);
  return { claude, fake };
}

function governClaude(claude: RealClaude, agent: Record<string, unknown> = {}): FixtureDaemon {
  const pid = claude.findClaudePid() ?? -1;
  const daemon = startFixtureDaemon({
    initialRatio: 0.75,
    env: { HOME: claude.home },
    daemon: {
      agent: {
        profile: 'claude-code',
        transport: 'tmux',
        tmuxSocket: claude.socket,
        tmuxTarget: 'main:0.0',
        pid,
        ...agent,
      },
    },
  });
  cleanups.push(async () => void (await daemon.stop()));
  return daemon;
}

const resultOf = (action: string) => (fields: Readonly<Record<string, unknown>>) =>
  fields.action === action;

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
});
