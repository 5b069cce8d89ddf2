// tmux 3.3 now and then reports a dead pane with no exit status and no signal (3 of 20 kill -9s
// on this machine). A tmux-launched agent is then relaunched only on evidence of a kernel kill:
// the cgroup's OOM-kill counter rose while it ran. The status loss is injected by answering
// tmux's dead-pane query with empty fields; everything else is a real tmux server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { okAsync } from 'neverthrow';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AgentHandle } from '../../actors/agent.ts';
import { tmuxLaunchedAgent } from '../../actors/agent-tmux.ts';
import { memoryLog } from '../../actors/log.ts';
import { profileFor } from '../../agents/index.ts';
import { createTmux, type Tmux } from '../../adapters/tmux.ts';
import { defaultDaemonConfig } from '../../machines/daemon-config.ts';
import { pollUntil } from '../support/daemon.ts';
import { killTmuxServer } from '../support/tmux.ts';

const SERVER = `memgov-lost-status-${process.pid}`;
const real = createTmux({ socketName: SERVER, callTimeoutMs: 5_000 });
const work = mkdtempSync(join(tmpdir(), 'memgov-lost-status-'));
let agent: AgentHandle | null = null;

afterEach(async () => {
  await agent?.shutdown(1_000);
  agent = null;
});
afterAll(() => {
  killTmuxServer(SERVER);
  rmSync(work, { recursive: true, force: true });
});

/** The real server, except that a dead pane's status and signal come back empty. */
const losingStatus: Tmux = {
  ...real,
  run: (args) =>
    args[0] === 'display-message' && args.at(-1)?.includes('#{pane_dead_status}') === true
      ? okAsync('1\t\t\n')
      : real.run(args),
};

function launch(oomKills: () => number | null) {
  const log = memoryLog();
  const handle = tmuxLaunchedAgent(
    {
      argv: ['sleep', '1000'],
      backoffMs: 50,
      maxBackoffMs: 100,
      healthyAfterMs: 60_000,
      relaunchWindowMs: 1_800_000,
      now: Date.now,
      tmux: losingStatus,
      profile: profileFor(defaultDaemonConfig(work).agent),
      env: {},
      cwd: work,
      sessionName: `agent-${Math.random().toString(36).slice(2, 8)}`,
      pollMs: 50,
      oomKills,
    },
    log,
  );
  agent = handle;
  const named = (message: string) =>
    log.records.filter((r) => r.message === message).map((r) => r.fields);
  return { handle, named };
}

describe('a tmux-launched agent whose exit status tmux lost', () => {
  it('is relaunched when the cgroup counted an OOM kill while it ran', async () => {
    let kills = 4;
    const { handle, named } = launch(() => kills);
    const first = await pollUntil('the agent', 5_000, () => handle.identity() ?? undefined);
    kills = 5;
    process.kill(first.pid, 'SIGKILL');
    const exited = await pollUntil('its exit', 5_000, () => named('agent exited')[0]);
    expect(exited).toMatchObject({ relaunch: true, statusLost: true, oomKilled: true });
    const second = await pollUntil('the relaunched agent', 5_000, () => {
      const now = handle.identity();
      return now !== null && now.pid !== first.pid ? now : undefined;
    });
    expect(named('agent started').map((f) => f.pid)).toEqual([first.pid, second.pid]);
  });

  it('is not relaunched without that evidence: memgov ends with it', async () => {
    const { handle, named } = launch(() => 4);
    const first = await pollUntil('the agent', 5_000, () => handle.identity() ?? undefined);
    process.kill(first.pid, 'SIGKILL');
    expect(await handle.finished).toBe(128);
    expect(named('agent exited')).toEqual([
      expect.objectContaining({ relaunch: false, statusLost: true, oomKilled: false }),
    ]);
  });
});
