// The real Claude Code CLI launched by memgov in tmux (`memgov run -- claude`). Session lineage:
// a /clear moves claude to a new, empty session while the conversation and its compact summary
// stay in the one before; the tier-3 archive must hold that session too, and the relaunch must
// resume it, so that the resumed claude's first turn carries the summary. Startup prompts: a
// trust dialog is reported, never typed into.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resumeFromManifest } from '../../agents/index.ts';
import { requestText, startFakeAnthropic, SUMMARY_MARKER } from '../support/fake-anthropic.ts';
import {
  claudeSocketName,
  prepareRealClaude,
  realClaudeIn,
  requireClaudeBinary,
} from '../support/real-claude.ts';
import {
  archiveDirOf,
  archivedFilesHolding,
  endAll,
  onCleanup,
  resultOf,
  sendTurn,
} from '../support/real-claude-memgov.ts';
import { startFixtureDaemon } from '../support/fixture-daemon.ts';
import { pollUntil } from '../support/daemon.ts';
import { isRecord } from '../../lib/record.ts';

beforeAll(requireClaudeBinary);

afterEach(endAll);

/** memgov launching the real claude in tmux, below 70% until the test raises the ratio. */
/**
 * A wrapper that stays claude's parent, as a shell or script in the pane does: `"$@"` runs claude
 * (with the relaunch's `--resume <sid>` appended) as a child, not exec'd, since a command follows.
 */
const WRAPPER = ['bash', '-c', '"$@"; exit $?', 'wrapper'];

async function launchedClaude(agent: Record<string, unknown> = {}, trusted = true) {
  const fake = await startFakeAnthropic();
  onCleanup(() => fake.close());
  const setup = prepareRealClaude({ baseUrl: fake.baseUrl, trusted });
  const socket = claudeSocketName();
  const claude = realClaudeIn({ ...setup, socket, target: `memgov-agent-${process.pid}` });
  onCleanup(() => claude.stop());
  const daemon = startFixtureDaemon({
    initialRatio: 0.3,
    env: { HOME: setup.home },
    agentCommand: [...WRAPPER, ...setup.argv],
    cwd: setup.cwd,
    daemon: { agent: { profile: 'claude-code', transport: 'tmux', tmuxSocket: socket, ...agent } },
  });
  onCleanup(async () => void (await daemon.stop()));
  await daemon.waitFor('agent started', () => true, 20_000);
  return { claude, fake, daemon };
}

describe('memgov launching the real claude CLI', () => {
  it('compact, clear, archive and terminate, relaunch: the resumed claude carries the summary', async () => {
    const { claude, fake, daemon } = await launchedClaude();
    for (const turn of [1, 2]) await sendTurn(claude, fake, `PROMPT-${turn} hello`);
    const conversation = (await claude.waitForIdle(30_000)).sessionId;
    daemon.setRatio(0.75);
    expect((await daemon.waitFor('action result', resultOf('compact'), 60_000)).outcome).toBe('ok');
    daemon.setRatio(0.87);
    expect((await daemon.waitFor('action result', resultOf('clear'), 60_000)).outcome).toBe('ok');
    const cleared = (await claude.waitForIdle(30_000)).sessionId;
    expect(cleared).not.toBe(conversation);
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'), 60_000);
    daemon.setRatio(0.3);
    expect(terminate.outcome).toBe('ok');
    // The tier-3 archive holds the pre-clear conversation, and its manifest the whole chain.
    const archive = archiveDirOf(terminate.detail);
    expect(archivedFilesHolding(archive, 'PROMPT-1 hello')).not.toEqual([]);
    const manifest: unknown = JSON.parse(readFileSync(join(archive, 'manifest.json'), 'utf8'));
    if (!isRecord(manifest)) throw new Error('manifest is not an object');
    expect(manifest.lineage).toEqual([conversation, cleared]);
    expect(manifest.resumeSessionId).toBe(conversation);
    expect(resumeFromManifest(manifest)?.command.argv).toEqual([
      'claude',
      '--resume',
      conversation,
    ]);
    // The relaunch resumes the session with the summary, and says so.
    const chosen = await daemon.waitFor('resume chosen', () => true, 20_000);
    expect(chosen).toMatchObject({ resume: 'conversation', sessionId: conversation });
    expect(String(chosen.why)).toContain('compact summary');
    await daemon.waitFor('agent started', (f) => String(f.command).includes('--resume'), 20_000);
    const turn = await sendTurn(claude, fake, 'AFTER-RESUME hello');
    expect(requestText(turn.body)).toContain(SUMMARY_MARKER);
    // The relaunched claude, below a new wrapper process, is found again: tier 3's SIGTERM goes
    // to its own process group (the wrapper's would miss it), and it exits.
    await sendTurn(claude, fake, 'AFTER-RESUME again');
    await claude.waitForIdle(30_000);
    const relaunchedPid = claude.findClaudePid() ?? -1;
    daemon.setRatio(0.95);
    const again = await daemon.waitFor(
      'action result',
      (f) => f.action === 'archive-terminate' && f !== terminate,
      60_000,
    );
    expect(again.outcome).toBe('ok');
    await pollUntil('the relaunched claude to exit', 10_000, () =>
      existsSync(`/proc/${relaunchedPid}`) ? undefined : true,
    );
  }, 180_000);

  it('a trust dialog at start is reported, and no command is typed into it', async () => {
    const { claude, daemon } = await launchedClaude({ idleDeadlineMs: 2_000 }, false);
    const asked = await daemon.waitFor('the agent asks a question memgov does not answer');
    expect(asked.prompt).toBe('trust');
    daemon.setRatio(0.75);
    const compact = await daemon.waitFor('action result', resultOf('compact'), 30_000);
    expect(compact.outcome).toBe('failed');
    expect(String(compact.detail)).toContain('shows its trust prompt');
    // Still asking: neither Enter (trust) nor Escape (exit) reached it.
    expect(claude.capturePane()).toMatch(/Is this a project you created or one you trust/);
    const config: unknown = JSON.parse(readFileSync(join(claude.home, '.claude.json'), 'utf8'));
    expect(JSON.stringify(config)).not.toContain('hasTrustDialogAccepted":true');
  }, 60_000);
});
