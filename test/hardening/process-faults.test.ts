// Process faults (issue 6): the daemon, in process, pushed up its ladder while the agent side
// misbehaves. Whatever the fault, memgov records the outcome, keeps governing, reaches the next
// tier, and never signals a process that is not the agent.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identify } from '../../adapters/proc.ts';
import { Cleanup, isGone, pollUntil, tempDir } from '../support/daemon.ts';
import { startFixtureDaemon, type FixtureDaemon } from '../support/fixture-daemon.ts';
import { killTmuxServer } from '../support/tmux.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Starts a long sleep as a stand-in agent, killed at cleanup (only if it is still ours). */
function sleeper(program = 'sleep'): ChildProcess {
  const child = spawn(program, ['1000'], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${program} did not start`);
  const identity = identify(pid)._unsafeUnwrap();
  cleanup.add(() => {
    const now = identify(pid);
    if (now.isOk() && now.value.startTicks === identity.startTicks) child.kill('SIGKILL');
  });
  return child;
}

function daemonFor(options: Parameters<typeof startFixtureDaemon>[0]): FixtureDaemon {
  const daemon = startFixtureDaemon(options);
  cleanup.add(async () => void (await daemon.stop()));
  return daemon;
}

const resultOf =
  (action: string) =>
  (fields: Readonly<Record<string, unknown>>): boolean =>
    fields.action === action;

/** A node one-liner as argv, run by the command transport without a shell. */
const nodeArgv = (code: string): string[] => [process.execPath, '-e', code];

describe('process faults', () => {
  it('a command transport that hangs: timed out, killed, recorded, and the clear still comes', async () => {
    const daemon = daemonFor({
      initialRatio: 0.75,
      prepare: (work) => ({
        agent: {
          actionTimeoutMs: 400,
          commandArgv: {
            // Writes its pid, then never exits.
            compact: nodeArgv(
              `require('fs').writeFileSync(${JSON.stringify(join(work, 'hung.pid'))}, String(process.pid)); setInterval(() => {}, 1000)`,
            ),
            clear: nodeArgv(
              `require('fs').writeFileSync(${JSON.stringify(join(work, 'cleared'))}, 'yes')`,
            ),
          },
        },
      }),
    });
    const compact = await daemon.waitFor('action result', resultOf('compact'));
    expect(compact).toMatchObject({ seq: 1, outcome: 'timed-out' });
    const hungPid = Number(readFileSync(join(daemon.work, 'hung.pid'), 'utf8'));
    await pollUntil('the hung command to be killed', 5_000, () => isGone(hungPid) || undefined);
    // Still climbing past clearAt inside the compact window: tier 2 is reachable.
    daemon.setRatio(0.87);
    const clear = await daemon.waitFor('action result', resultOf('clear'));
    expect(clear).toMatchObject({ seq: 2, outcome: 'ok' });
    expect(readFileSync(join(daemon.work, 'cleared'), 'utf8')).toBe('yes');
    expect(await daemon.stop()).toBe(0);
  });

  it('the agent dies between the decision and the action: recorded, nothing else signalled, governing goes on', async () => {
    const agent = sleeper();
    const agentPid = agent.pid ?? 0;
    const daemon = daemonFor({
      initialRatio: 0.75,
      daemon: { agent: { pid: agentPid, commandArgv: { compact: nodeArgv('0') } } },
    });
    await daemon.waitFor('action result', resultOf('compact'));
    // The agent exits on its own just as memory reaches tier 3.
    agent.kill('SIGKILL');
    await pollUntil('the agent to be gone', 5_000, () => isGone(agentPid) || undefined);
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'));
    expect(terminate.outcome).not.toBe('ok');
    expect(String(terminate.detail)).toMatch(/gone|not running|no agent/i);
    // It goes on sampling: a later decision, after the result.
    const decisionsBefore = daemon.named('decision').length;
    await pollUntil('another decision', 5_000, () =>
      daemon.named('decision').length > decisionsBefore ? true : undefined,
    );
  });

  it('a recycled PID: the process now holding the agent PID is never signalled', async () => {
    const agent = sleeper();
    const agentPid = agent.pid ?? 0;
    const daemon = daemonFor({
      initialRatio: 0.5,
      daemon: { agent: { pid: agentPid, commandArgv: { compact: nodeArgv('0') } } },
    });
    expect(daemon.named('agent attached')).toEqual([{ pid: agentPid }]);
    await daemon.waitFor('decision');
    // The PID changes hands before memgov ever acts on the agent.
    agent.kill('SIGKILL');
    await pollUntil('the agent to be reaped', 5_000, () =>
      identify(agentPid).isErr() ? true : undefined,
    );
    // Hand the same PID to an innocent process: the kernel gives out ns_last_pid + 1 next.
    const innocent = await pollUntil('a process that gets the recycled PID', 10_000, () => {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(agentPid - 1));
      const child = sleeper();
      if (child.pid === agentPid) return child;
      child.kill('SIGKILL');
      return undefined;
    });
    daemon.setRatio(0.75);
    await daemon.waitFor('action result', resultOf('compact'));
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'));
    expect(terminate.outcome).not.toBe('ok');
    expect(String(terminate.detail)).toMatch(/recycled|another process/i);
    expect(isGone(innocent.pid ?? 0)).toBe(false);
  });

  it('a pidfile older than the process it names is not the agent', async () => {
    const daemon = daemonFor({
      initialRatio: 0.75,
      prepare: (work) => {
        const pidfile = join(work, 'agent.pid');
        // Written well before the process it will name exists.
        writeFileSync(pidfile, '1');
        return { agent: { pidfile, commandArgv: { compact: nodeArgv('0') } } };
      },
    });
    const pidfile = join(daemon.work, 'agent.pid');
    const stranger = sleeper();
    const strangerPid = stranger.pid ?? 0;
    writeFileSync(pidfile, String(strangerPid));
    // Backdate the write: the pidfile says it was written before the stranger started.
    const past = new Date(Date.now() - 60_000);
    utimesSync(pidfile, past, past);
    await daemon.waitFor('action result', resultOf('compact'));
    daemon.setRatio(0.95);
    await daemon.waitFor('action result', resultOf('archive-terminate'));
    expect(
      daemon.named('pidfile is older than the process it names: a recycled PID, not the agent'),
    ).not.toEqual([]);
    expect(isGone(strangerPid)).toBe(false);
  });

  it('a hostile process name: the agent is identified and terminated all the same', async () => {
    // The kernel's comm field is the file name: parentheses, spaces and state-like letters.
    const evil = join(tempDir(cleanup), 'x) Z 1 1 (y');
    copyFileSync('/bin/sleep', evil);
    chmodSync(evil, 0o755);
    const agent = sleeper(evil);
    const agentPid = agent.pid ?? 0;
    expect(readFileSync(`/proc/${agentPid}/stat`, 'utf8')).toContain('(x) Z 1 1 (y)');
    expect(identify(agentPid)._unsafeUnwrap().pid).toBe(agentPid);
    const governing = daemonFor({
      initialRatio: 0.75,
      daemon: { agent: { pid: agentPid, commandArgv: { compact: nodeArgv('0') } } },
    });
    await governing.waitFor('action result', resultOf('compact'));
    governing.setRatio(0.95);
    const terminate = await governing.waitFor('action result', resultOf('archive-terminate'));
    expect(terminate.outcome).toBe('ok');
    await pollUntil('the agent to exit', 5_000, () => isGone(agentPid) || undefined);
  });

  it('the tmux server is gone: the compact fails clearly, and tier 3 still stops the agent', async () => {
    const server = `memgov-gone-${process.pid}`;
    cleanup.add(() => killTmuxServer(server));
    const agent = sleeper();
    const agentPid = agent.pid ?? 0;
    const daemon = daemonFor({
      initialRatio: 0.75,
      daemon: {
        agent: {
          profile: 'claude-code',
          transport: 'tmux',
          tmuxSocket: server,
          tmuxTarget: 'agent:0.0',
          pid: agentPid,
          idleDeadlineMs: 500,
        },
      },
    });
    const compact = await daemon.waitFor('action result', resultOf('compact'));
    expect(compact.outcome).toBe('failed');
    expect(String(compact.detail)).toMatch(/tmux|server|pane/i);
    daemon.setRatio(0.95);
    const terminate = await daemon.waitFor('action result', resultOf('archive-terminate'), 20_000);
    expect(terminate.outcome).toBe('ok');
    await pollUntil('the agent to exit', 10_000, () => isGone(agentPid) || undefined);
  });
});
