// Teardown for the isolated tmux servers the agent-CLI tests start (`tmux -L NAME`): whatever a
// test left running is ended, and nothing outside the test is touched.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Kills the server named `name` and removes its socket file, which tmux leaves behind when the
 * server exits. `tmpDir` is where the server made its socket: TMUX_TMPDIR of the process that
 * started it (default /tmp).
 */
export function killTmuxServer(name: string, tmpDir = process.env.TMUX_TMPDIR ?? '/tmp'): void {
  try {
    execFileSync('tmux', ['-L', name, 'kill-server'], { stdio: 'ignore' });
  } catch {
    // Not running: never started, a test killed it, or its last session ended.
  }
  rmSync(join(tmpDir, `tmux-${process.getuid?.() ?? 0}`, name), { force: true });
}

/**
 * SIGKILLs the process groups led by `pids` that still run `program` (a pid reused by someone
 * else is left alone). Fakes lead their groups: tmux starts each pane with setsid.
 */
export function killFakeGroups(pids: readonly number[], program: string): void {
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(program))
        process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
