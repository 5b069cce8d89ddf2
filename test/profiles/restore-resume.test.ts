// The restore round trip ends where a user needs it to: the session archived at tier 3 is
// restored after its files were lost, and the exact resume command memgov prints starts the
// (fake) Claude Code CLI on the same session, appending to the same transcript.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { killFakeGroups, killTmuxServer } from '../support/tmux.ts';
import { archiveSession } from '../../adapters/archive/write.ts';
import { readSessionFor, sessionArchiveSet } from '../../agents/claude-code.ts';
import type { ClaudeSession } from '../../agents/claude-code-parse.ts';
import { createTmux } from '../../adapters/tmux.ts';
import { restoreCommand } from '../../cli/commands/restore.ts';
import type { CliIo } from '../../cli/io.ts';
import { createFakeClaudeHarness, eventually, userText } from '../fakes/fake-claude-harness.ts';

const SERVER = `memgov-restore-resume-${process.pid}`;
const tmux = createTmux({ socketName: SERVER, callTimeoutMs: 5_000 });
const harness = createFakeClaudeHarness(tmux);
const work = mkdtempSync(join(tmpdir(), 'memgov-restore-resume-'));
const FAKE = fileURLToPath(new URL('../fakes/fake-claude.ts', import.meta.url));

afterAll(() => {
  killFakeGroups(harness.pids, FAKE);
  killTmuxServer(SERVER);
  harness.cleanup();
  rmSync(work, { recursive: true, force: true });
});

async function say(pane: string, text: string): Promise<void> {
  (await tmux.sendLiteral(pane, text))._unsafeUnwrap();
  await new Promise((resolve) => setTimeout(resolve, 300));
  (await tmux.sendKey(pane, 'Enter'))._unsafeUnwrap();
}

describe('restore, then the printed resume command', () => {
  it('brings the session back and the resumed agent continues the same transcript', async () => {
    const first = await harness.start(['--busy-ms', '200']);
    const env = { CLAUDE_CONFIG_DIR: first.configDir, HOME: work };
    const sid = (await eventually(() => first.session()?.sessionId ?? null)) ?? '';
    expect(sid).not.toBe('');
    await say(first.pane, 'remember the plan');
    expect(
      await eventually(() => first.records(sid).some((r) => userText(r) === 'remember the plan')),
    ).toBe(true);

    // Tier 3: archive the session, then the agent goes (and, here, its files are lost).
    const session = (await readSessionFor(first.pid, env))._unsafeUnwrap() as ClaudeSession;
    const set = (await sessionArchiveSet(env, session))._unsafeUnwrap();
    const archived = await archiveSession({
      sources: set.sources,
      exclude: set.exclude,
      extraManifest: set.extraManifest,
      archiveRoot: join(work, 'archive'),
      reason: 'tier3',
      nowMs: Date.now(),
      deadlineMs: Number.MAX_SAFE_INTEGER,
    });
    const archiveDir = archived._unsafeUnwrap().dir;
    process.kill(-first.pid, 'SIGTERM');
    await eventually(() => first.session()?.status !== 'busy');
    rmSync(join(first.configDir, 'projects'), { recursive: true, force: true });

    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      out: (t) => void (stdout += t),
      err: (t) => void (stderr += t),
      env: {},
      cwd: work,
    };
    const code = await restoreCommand([archiveDir, '--json'], io);
    if (code !== 0) throw new Error(`restore exited ${code}: ${stderr} ${stdout}`);
    const summary = JSON.parse(stdout) as {
      resume: { cwd: string; argv: string[]; command: string } | null;
    };
    expect(summary.resume?.argv).toEqual(['claude', '--resume', sid]);
    expect(summary.resume?.cwd).toBe(first.cwd);
    expect(summary.resume?.command).toBe(`cd '${first.cwd}' && claude --resume ${sid}`);

    // Run what it printed, with the fake standing in for `claude`.
    const [, ...args] = summary.resume?.argv ?? [];
    const resumed = await harness.start(args, {
      configDir: first.configDir,
      cwd: summary.resume?.cwd ?? '',
    });
    expect(await eventually(() => resumed.session()?.sessionId === sid)).toBe(true);
    await eventually(() => resumed.session()?.status === 'idle');
    await say(resumed.pane, 'and carry on');
    expect(
      await eventually(() => resumed.records(sid).some((r) => userText(r) === 'and carry on')),
    ).toBe(true);
    const texts = resumed
      .records(sid)
      .map(userText)
      .filter((t) => t !== null);
    expect(texts).toEqual(expect.arrayContaining(['remember the plan', 'and carry on']));
    expect(resumed.transcriptPath(sid)).toBe(first.transcriptPath(sid));
  }, 30_000);
});
