// A tmux-launched agent (actors/agent-tmux.ts) on a real tmux server of the test file's own:
// `sleep` stands in for the CLI, the hooks end the agent after each test and the server and the
// work folder after the file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import type { AgentHandle } from '../../actors/agent.ts';
import { tmuxLaunchedAgent, type TmuxLaunchOptions } from '../../actors/agent-tmux.ts';
import { memoryLog } from '../../actors/log.ts';
import { profileFor } from '../../agents/index.ts';
import { createTmux } from '../../adapters/tmux.ts';
import { defaultDaemonConfig } from '../../machines/daemon-config.ts';
import { killTmuxServer } from './tmux.ts';

/** Registers the hooks; `launch` starts one agent with `overrides` on the file's server. */
export function tmuxLaunchBench(label: string) {
  const server = `memgov-${label}-${process.pid}`;
  const tmux = createTmux({ socketName: server, callTimeoutMs: 5_000 });
  const work = mkdtempSync(join(tmpdir(), `memgov-${label}-`));
  let agent: AgentHandle | null = null;
  afterEach(async () => {
    await agent?.shutdown(1_000);
    agent = null;
  });
  afterAll(() => {
    killTmuxServer(server);
    rmSync(work, { recursive: true, force: true });
  });
  const launch = (overrides: Partial<TmuxLaunchOptions> = {}) => {
    const log = memoryLog();
    const handle = tmuxLaunchedAgent(
      {
        argv: ['sleep', '1000'],
        ...{
          backoffMs: 50,
          maxBackoffMs: 100,
          healthyAfterMs: 60_000,
          relaunchWindowMs: 1_800_000,
        },
        now: Date.now,
        tmux,
        profile: profileFor(defaultDaemonConfig(work).agent),
        env: {},
        cwd: work,
        sessionName: `agent-${Math.random().toString(36).slice(2, 8)}`,
        pollMs: 50,
        ...overrides,
      },
      log,
    );
    agent = handle;
    const named = (message: string) =>
      log.records.filter((r) => r.message === message).map((r) => r.fields);
    return { handle, log, named };
  };
  return { tmux, work, launch };
}
