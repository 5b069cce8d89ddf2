// The stop-tool executor over real processes (no cgroup needed): the plan (pure) signals a tool's
// own process group when it holds no agent, else each PID children first; a tool that ignores
// SIGTERM gets SIGKILL after toolKillAfterMs; a root that has exited is skipped, never guessed.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { identify } from '../../adapters/proc.ts';
import { memoryLog } from '../../actors/log.ts';
import { stopTool } from '../../actors/stop-tool.ts';
import type { AgentHandle } from '../../actors/agent.ts';
import { planToolStop, type ProcessShare } from '../../machines/attribution.ts';
import type { PendingAction } from '../../machines/records.ts';
import { isGone, pollUntil } from '../support/daemon.ts';

const p = (pid: number, ppid: number, pgrp: number): ProcessShare => ({
  pid,
  ppid,
  pgrp,
  startTicks: pid,
  comm: `p${pid}`,
  bytes: 1,
});

describe('planToolStop (pure)', () => {
  it('its own group when it holds no agent and no memgov, plus members outside the group', () => {
    const table = [p(1, 0, 1), p(2, 1, 2), p(3, 2, 3), p(4, 3, 3), p(5, 4, 5)];
    const plan = planToolStop(table, { pid: 3, startTicks: 3 }, 2, 1);
    expect(plan?.group).toBe(3);
    expect(plan?.pids.map((x) => x.pid)).toEqual([5]);
    expect(plan?.members.map((x) => x.pid)).toEqual([3, 4, 5]);
  });

  it("in the agent's group, or a group the agent joined: each pid, children first", () => {
    const inAgentGroup = [p(2, 1, 2), p(3, 2, 2), p(4, 3, 2), p(6, 4, 2)];
    expect(planToolStop(inAgentGroup, { pid: 3, startTicks: 3 }, 2, 1)).toMatchObject({
      group: null,
      pids: [{ pid: 6 }, { pid: 4 }, { pid: 3 }],
    });
    const agentJoined = [p(2, 1, 3), p(3, 2, 3)];
    expect(planToolStop(agentJoined, { pid: 3, startTicks: 3 }, 2, 1)?.group).toBeNull();
  });

  it('a root that exited, or whose pid now names another process, gives no plan', () => {
    expect(planToolStop([p(2, 1, 2)], { pid: 3, startTicks: 3 }, 2, 1)).toBeNull();
    expect(planToolStop([p(2, 1, 2), p(3, 2, 3)], { pid: 3, startTicks: 99 }, 2, 1)).toBeNull();
  });
});

describe('stopTool over real processes', () => {
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) child.kill('SIGKILL');
  });

  /** The shell has forked its sleep, so its trap (set before the fork) is in place. */
  const hasChild = (pid: number): true | undefined => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() === ''
        ? undefined
        : true;
    } catch {
      return undefined;
    }
  };

  /**
   * This test process plays the agent; the tool is a shell child with a sleeping grandchild,
   * returned once the grandchild runs (a SIGTERM before that once met a shell with no trap yet).
   */
  async function tool(options: { detached: boolean; trapTerm: boolean }) {
    const trap = options.trapTerm ? "trap '' TERM; " : '';
    const child = spawn('sh', ['-c', `${trap}sleep 30 & wait`], {
      detached: options.detached,
      stdio: 'ignore',
    });
    started.push(child);
    await pollUntil('the tool to fork its sleep', 5_000, () => hasChild(child.pid as number));
    const id = identify(child.pid as number)._unsafeUnwrap();
    const request: PendingAction = {
      ...{ seq: 1, action: 'stop-tool', atMs: 0, ratio: 0.8, usedBytes: 100, limitBytes: 125 },
      tool: { pid: id.pid, pgid: id.pgrp, startTicks: id.startTicks, bytes: 60, command: 'sh' },
      replaces: 'compact',
    };
    const self = identify(process.pid)._unsafeUnwrap();
    const agent = { identity: () => self } as unknown as AgentHandle;
    return { child, request, agent };
  }

  it('a tool in its own group: SIGTERM to the group ends the shell and its sleep', async () => {
    const t = await tool({ detached: true, trapTerm: false });
    const deps = { agent: t.agent, log: memoryLog(), killAfterMs: 2_000, memgovPid: 1 };
    const result = await stopTool(t.request, new AbortController().signal, deps);
    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(/SIGTERM to process group \d+; all \d+ processes exited/);
    expect(isGone(process.pid)).toBe(false);
  });

  it("a tool in the agent's group that ignores SIGTERM is killed after toolKillAfterMs", async () => {
    const t = await tool({ detached: false, trapTerm: true });
    const log = memoryLog();
    const deps = { agent: t.agent, log, killAfterMs: 300, memgovPid: 1 };
    const result = await stopTool(t.request, new AbortController().signal, deps);
    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(/SIGTERM to \d+ pids, SIGKILL after 300 ms; all/);
    expect(log.records.find((r) => r.message === 'tool stopped')?.fields).toMatchObject({
      command: 'sh',
      killed: true,
      left: 0,
    });
  });

  it('a root that already exited is skipped', async () => {
    const t = await tool({ detached: true, trapTerm: false });
    t.child.kill('SIGKILL');
    await pollUntil('the tool to exit', 5_000, () =>
      isGone(t.child.pid as number) ? true : undefined,
    );
    const deps = { agent: t.agent, log: memoryLog(), killAfterMs: 300, memgovPid: 1 };
    const result = await stopTool(t.request, new AbortController().signal, deps);
    expect(result.outcome).toBe('skipped');
    expect(result.detail).toMatch(/exited before it was stopped/);
  });
});
