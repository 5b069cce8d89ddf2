// The stop-tool rung end to end (docs/DESIGN.md#whose-memory-it-is): the shipped bundle governs a
// real cgroup v1 child of our own (256 MiB) with a small fake agent (test/fakes/tool-agent.ts)
// whose tool child grows towards 90%. The tool is stopped, the agent gets no keystroke and no
// signal and lives on, and the kernel kills nothing; with the tool in the agent's own process
// group only the subtree is signalled; when the agent itself grows, the usual ladder runs. The
// tool runs under a hostile name (spaces, parentheses, a newline), which its comm then is.
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  actionsDecided,
  cgroupParent,
  Cleanup,
  createTestCgroup,
  isGone,
  MIB,
  startMemgov,
  tempDir,
  writeConfig,
  type DaemonProcess,
  type LogRecord,
} from '../support/daemon.ts';

const LIMIT_BYTES = 256 * MIB;
const TOOL_AGENT = new URL('../fakes/tool-agent.ts', import.meta.url).pathname;
/** The kernel keeps 15 bytes of the executable's name as comm: this fits whole. */
const HOSTILE_NAME = 'a) (b\nc) 9';

const skipReason = cgroupParent.isErr() ? cgroupParent.error : '';
const title =
  skipReason === ''
    ? 'the stop-tool rung on a real cgroup v1 child'
    : `the stop-tool rung on a real cgroup (skipped: ${skipReason})`;

type Mode = 'own-group' | 'same-group' | 'agent-grows';

function pidIn(output: string, prefix: string): number {
  const match = new RegExp(`^${prefix} (\\d+)$`, 'm').exec(output);
  if (match?.[1] === undefined) throw new Error(`no "${prefix}" line in:\n${output}`);
  return Number(match[1]);
}

function lines(output: string, prefix: string): string[] {
  return output.split('\n').filter((line) => line.startsWith(prefix));
}

/** The tool died of the SIGTERM; the agent got no keystroke and no signal, and still runs. */
function expectOnlyTheToolStopped(output: string, agentPid: number): void {
  expect(lines(output, 'TOOL EXITED')).toEqual(['TOOL EXITED null SIGTERM']);
  expect(lines(output, 'KEYSTROKE')).toEqual([]);
  expect(lines(output, 'SIGNAL')).toEqual([]);
  expect(isGone(agentPid)).toBe(false);
}

describe.skipIf(skipReason !== '')(title, () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /** memgov launching the fake agent in `mode` in a fresh 256 MiB cgroup, 250 ms polls. */
  function start(mode: Mode, targetMib: number) {
    const dir = tempDir(cleanup);
    const cgroup = createTestCgroup(cleanup, LIMIT_BYTES);
    const toolExec = join(dir, HOSTILE_NAME);
    symlinkSync(process.execPath, toolExec);
    const config = writeConfig(dir, {
      minPollMs: 250,
      urgentPollMs: 250,
      stateFile: join(dir, 'state', 'mem_governor_state'),
      agent: { profile: 'generic', terminateGraceMs: 3_000, toolKillAfterMs: 2_000 },
      archive: { dir: join(dir, 'archive'), paths: [] },
    });
    const args = ['run', '--cgroup', cgroup.dir, '--config', config, '--log-format', 'json'];
    const agentArgv = [process.execPath, '--import', 'tsx', TOOL_AGENT, '--cgroup', cgroup.dir];
    const agent = [...agentArgv, '--mode', mode, '--target-mib', String(targetMib)];
    const memgov = startMemgov(cleanup, args, [...agent, '--tool-exec', toolExec]);
    return { memgov, cgroup };
  }

  const isAction = (action: string) => (r: LogRecord) =>
    r.message === 'decision' && r.action === action;

  async function stoppedTool(memgov: DaemonProcess) {
    const decision = await memgov.waitFor('the stop-tool decision', isAction('stop-tool'), 30_000);
    const result = await memgov.waitFor(
      'the stop-tool result',
      (r) => r.message === 'action result' && r.action === 'stop-tool',
      15_000,
    );
    await memgov.waitFor('the tool to exit', () => /^TOOL EXITED/m.test(memgov.output()), 5_000);
    const output = memgov.output();
    const agentPid = pidIn(output, 'AGENT READY');
    return { decision, result, output, agentPid, toolPid: pidIn(output, 'TOOL STARTED') };
  }

  it('a tool in its own process group is stopped through it; the agent is left alone', async () => {
    const { memgov, cgroup } = start('own-group', 230);
    const { decision, result, output, agentPid, toolPid } = await stoppedTool(memgov);
    expect(decision.replaces).toBe('compact');
    expect(decision.tool).toMatchObject({ pid: toolPid, pgid: toolPid, command: HOSTILE_NAME });
    expect((decision.tool as { bytes: number }).bytes).toBeGreaterThan(
      0.5 * (decision.usedBytes as number),
    );
    expect(result.outcome).toBe('ok');
    expect(result.detail).toContain(`SIGTERM to process group ${toolPid}`);
    expectOnlyTheToolStopped(output, agentPid);
    expect(actionsDecided(memgov).map((a) => a.action)).toEqual(['stop-tool']);
    expect(cgroup.oomKills()).toBe(0);
  }, 60_000);

  it("a tool in the agent's own process group: only the subtree is signalled, the agent lives", async () => {
    const { memgov, cgroup } = start('same-group', 230);
    const { decision, result, output, agentPid, toolPid } = await stoppedTool(memgov);
    // memgov launched the agent as the leader of its own group: the tool stayed in it.
    expect(decision.tool).toMatchObject({ pid: toolPid, pgid: agentPid, command: HOSTILE_NAME });
    expect(result.outcome).toBe('ok');
    expect(result.detail).toContain('SIGTERM to 1 pids');
    expectOnlyTheToolStopped(output, agentPid);
    expect(cgroup.oomKills()).toBe(0);
  }, 60_000);

  it('control: when the agent itself grows, the usual ladder compacts it', async () => {
    const { memgov, cgroup } = start('agent-grows', 200);
    const compact = await memgov.waitFor('the compact decision', isAction('compact'), 30_000);
    await memgov.waitFor('the keystroke', () => /^KEYSTROKE/m.test(memgov.output()), 5_000);
    expect(compact.tool).toBeUndefined();
    expect(lines(memgov.output(), 'KEYSTROKE')).toEqual(['KEYSTROKE /compact']);
    expect(actionsDecided(memgov).map((a) => a.action)).not.toContain('stop-tool');
    expect(cgroup.oomKills()).toBe(0);
  }, 60_000);
});
