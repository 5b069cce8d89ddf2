// The codex profile's checks against the real Codex CLI 0.171.0 in a tmux pane of its own
// (offline, test/support/fake-openai.ts): while an answer streams the pane shows no busy marker,
// yet the profile says busy; a /compact typed then is refused by the CLI, and the profile
// reports that refusal with the CLI's words instead of a success.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codexLaunchArgv, codexProfile } from '../../agents/codex.ts';
import { BUSY_MARKER } from '../../agents/terminal.ts';
import { createTmux } from '../../adapters/tmux.ts';
import { pollUntil } from '../support/daemon.ts';
import { isCompactionRequest, startFakeOpenAI } from '../support/fake-openai.ts';
import { pause } from '../../lib/time.ts';
import { endAll, onCleanup } from '../support/real-claude-memgov.ts';
import {
  prepareRealCodex,
  realCodexIn,
  requireCodexBinary,
  sendTurn,
  socketName,
} from '../support/real-codex.ts';

beforeAll(requireCodexBinary);
afterEach(endAll);

/** Polls `check` every 200 ms until it is true or `timeoutMs` passed; its last answer. */
async function untilTrue(check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await pause(200);
  }
}

async function codexInPane() {
  const fake = await startFakeOpenAI();
  onCleanup(() => fake.close());
  const setup = prepareRealCodex(fake.baseUrl);
  const socket = socketName();
  const codex = realCodexIn(setup, socket, 'main');
  onCleanup(() => codex.stop());
  const size = ['-x', '160', '-y', '50'];
  codex.tmux([
    'new-session',
    '-d',
    '-s',
    'main',
    ...size,
    '-c',
    setup.cwd,
    '--',
    ...codexLaunchArgv(setup.argv),
  ]);
  codex.recordTree();
  return { codex, fake, tmux: createTmux({ socketName: socket, callTimeoutMs: 5_000 }) };
}

describe('the codex profile against the real CLI', () => {
  it('busy while an answer streams with no marker; a /compact typed then is a refusal', async () => {
    const { codex, fake, tmux } = await codexInPane();
    await sendTurn(codex, fake, 'PROMPT-1 hello');
    Object.assign(fake.mode, { chunkDelayMs: 500, chunkCount: 16 });
    fake.mode.replyText = `${'STREAMED '.repeat(30)}END-OF-ANSWER`;
    await sendTurn(codex, fake, 'PROMPT-2 stream slowly');
    await pollUntil('the answer streaming in the pane', 10_000, () =>
      codex.capturePane().includes('STREAMED') ? true : undefined,
    );
    const pid = codex.panePid() ?? -1;
    const env = { HOME: codex.home, CODEX_HOME: codex.codexHome };
    const ports = { env, tmux, target: 'main', pid, now: () => Date.now() };
    const probe = await codexProfile().probe('compact', '/compact', ports);
    // The measured fact: no "esc to interrupt" while it streams; the rollout's open turn says busy.
    expect(codex.capturePane()).not.toMatch(BUSY_MARKER);
    expect(await probe.isIdle()).toBe(false);
    await codex.sendLine('/compact');
    const taken = await untilTrue(probe.taken, 10_000);
    expect(taken).toBe(true);
    let completion = await probe.finished();
    for (let i = 0; i < 50 && completion.kind === 'pending'; i += 1) {
      await pause(200);
      completion = await probe.finished();
    }
    expect(completion).toEqual({
      kind: 'failed',
      detail: "the CLI refused: '/compact' is disabled while a task is in progress.",
    });
    // Nothing was compacted: the CLI said no, and the profile did not wait it out as a success.
    expect(fake.turnRequests().some((r) => isCompactionRequest(r.body))).toBe(false);
  }, 90_000);
});
