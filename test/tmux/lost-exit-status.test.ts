// tmux 3.3 now and then reports a dead pane with no exit status and no signal (3 of 20 kill -9s
// on this machine). A tmux-launched agent is then relaunched only on evidence of a kernel kill:
// the cgroup's OOM-kill counter rose while it ran. The status loss is injected by answering
// tmux's dead-pane query with empty fields; everything else is a real tmux server.
import { okAsync } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import type { Tmux } from '../../adapters/tmux.ts';
import { pollUntil } from '../support/daemon.ts';
import { tmuxLaunchBench } from '../support/tmux-launch.ts';

const bench = tmuxLaunchBench('lost-status');
const real = bench.tmux;

/** The real server, except that a dead pane's status and signal come back empty. */
const losingStatus: Tmux = {
  ...real,
  run: (args) =>
    args[0] === 'display-message' && args.at(-1)?.includes('#{pane_dead_status}') === true
      ? okAsync('1\t\t\n')
      : real.run(args),
};

const launch = (oomKills: () => number | null) => bench.launch({ tmux: losingStatus, oomKills });

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
