// The executor actor (one action at a time, tier 3 supersedes), the transports and `perform`.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createActor, setup, type AnyEventObject } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createExecutorLogic, type PerformResult } from '../../actors/executor.ts';
import { memoryLog } from '../../actors/log.ts';
import { createPerform } from '../../actors/perform.ts';
import { runArgv } from '../../transports/command.ts';
import { typeLine } from '../../transports/stdin.ts';
import { defaultDaemonConfig, type DaemonConfig } from '../../machines/daemon-config.ts';
import type { PendingAction } from '../../machines/records.ts';
import type { AgentHandle } from '../../actors/agent.ts';

const request = (seq: number, action: PendingAction['action']): PendingAction => ({
  seq,
  action,
  atMs: 1_000 * seq,
  ratio: 0.8,
  usedBytes: 800,
  limitBytes: 1_000,
});

/** Runs the executor under a parent that records what it sends back. */
function startExecutor(perform: (r: PendingAction, s: AbortSignal) => Promise<PerformResult>) {
  const received: AnyEventObject[] = [];
  let clock = 0;
  const parent = setup({
    actors: { executor: createExecutorLogic({ perform, now: () => (clock += 10) }) },
  }).createMachine({
    invoke: { id: 'executor', src: 'executor' },
    on: {
      '*': { actions: ({ event }) => void received.push(event) },
    },
  });
  const actor = createActor(parent, { systemId: 'root' }).start();
  const executor = actor.getSnapshot().children.executor;
  return {
    received,
    send: (r: PendingAction) => executor?.send({ type: 'EXECUTE', request: r }),
    actor,
  };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(check()).toBe(true);
};

describe('executor actor', () => {
  it('runs actions one at a time, in order, and reports each result with its duration', async () => {
    const started: number[] = [];
    const gates = new Map<number, (r: PerformResult) => void>();
    const { received, send } = startExecutor(
      (r) =>
        new Promise((resolve) => {
          started.push(r.seq);
          gates.set(r.seq, resolve);
        }),
    );
    send(request(1, 'compact'));
    send(request(2, 'clear'));
    await until(() => started.length === 1);
    expect(started).toEqual([1]);
    gates.get(1)?.({ outcome: 'ok' });
    await until(() => started.length === 2);
    gates.get(2)?.({ outcome: 'failed', detail: 'exit 3' });
    await until(() => received.length === 2);
    expect(received).toMatchObject([
      { type: 'ACTION.RESULT', seq: 1, outcome: 'ok', durationMs: 10 },
      { type: 'ACTION.RESULT', seq: 2, outcome: 'failed', detail: 'exit 3' },
    ]);
  });

  it('lets tier 3 supersede a compact in progress and drop a queued clear', async () => {
    const started: string[] = [];
    const { received, send } = startExecutor(async (r, signal) => {
      started.push(r.action);
      if (r.action === 'archive-terminate') return { outcome: 'ok' };
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      return { outcome: 'failed', detail: 'stopped' };
    });
    send(request(1, 'compact'));
    send(request(2, 'clear'));
    send(request(3, 'archive-terminate'));
    await until(() => received.length === 3);
    expect(started).toEqual(['compact', 'archive-terminate']);
    expect(received.map((e) => [e.seq as number, e.outcome as string])).toEqual([
      [2, 'superseded'],
      [1, 'superseded'],
      [3, 'ok'],
    ]);
  });

  it('records a rejected perform as failed, with the reason', async () => {
    const { received, send } = startExecutor(() => Promise.reject(new Error('boom')));
    send(request(1, 'compact'));
    await until(() => received.length === 1);
    expect(received[0]).toMatchObject({ seq: 1, outcome: 'failed', detail: 'boom' });
  });
});

describe('command transport', () => {
  const never = new AbortController().signal;

  it('runs argv without a shell: metacharacters reach the program as plain text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'memgov-argv-'));
    const out = join(dir, 'argv.json');
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(1)))`;
    const hostile = '$(touch /tmp/memgov-pwned); rm -rf / `id` && echo "x" | cat';
    const result = await runArgv([process.execPath, '-e', script, hostile], {
      timeoutMs: 10_000,
      signal: never,
    });
    expect(result).toEqual({ outcome: 'ok' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual([hostile]);
  });

  it('reports a non-zero exit with the tail of stderr', async () => {
    const result = await runArgv(
      [process.execPath, '-e', 'console.error("agent busy"); process.exit(3)'],
      {
        timeoutMs: 10_000,
        signal: never,
      },
    );
    expect(result.outcome).toBe('failed');
    expect(result.detail).toContain('exited with 3: agent busy');
  });

  it('times out a command that hangs, and kills it', async () => {
    const result = await runArgv([process.execPath, '-e', 'setInterval(() => {}, 1000)'], {
      timeoutMs: 300,
      signal: never,
    });
    expect(result).toEqual({
      outcome: 'timed-out',
      detail: `${process.execPath} ran longer than 300 ms`,
    });
  });

  it('reports a program that does not exist', async () => {
    const result = await runArgv(['/nonexistent/agent-ctl', 'compact'], {
      timeoutMs: 1_000,
      signal: never,
    });
    expect(result.outcome).toBe('failed');
    expect(result.detail).toContain('/nonexistent/agent-ctl');
  });
});

describe('stdin transport', () => {
  it('types the command and a newline', async () => {
    const stream = new PassThrough();
    let typed = '';
    stream.on('data', (chunk: Buffer) => (typed += chunk.toString()));
    expect(await typeLine(stream, '/compact')).toEqual({ outcome: 'ok' });
    expect(typed).toBe('/compact\n');
  });

  it('fails clearly when the agent is not running', async () => {
    expect(await typeLine(null, '/clear')).toEqual({
      outcome: 'failed',
      detail: 'the agent is not running (no stdin to type into)',
    });
  });
});

describe('perform', () => {
  const agent: AgentHandle = {
    launched: false,
    identity: () => null,
    stdin: () => null,
    expectExit: () => undefined,
    relaunchBudgetSpent: () => false,
    finished: new Promise(() => undefined),
    shutdown: () => Promise.resolve(),
  };
  const withConfig = (change: (c: DaemonConfig) => DaemonConfig) =>
    createPerform({
      config: change(defaultDaemonConfig('/tmp/memgov-perform')),
      transport: 'command',
      agent,
      log: memoryLog(),
      now: () => 0,
    });
  const signal = new AbortController().signal;

  it('executes nothing in dry-run mode', async () => {
    const perform = withConfig((c) => ({ ...c, dryRun: true }));
    expect(await perform(request(1, 'archive-terminate'), signal)).toEqual({
      outcome: 'skipped',
      detail: 'dry run: would archive-terminate',
    });
  });

  it('skips a rung with no command configured, saying which', async () => {
    const perform = withConfig((c) => c);
    expect(await perform(request(1, 'clear'), signal)).toEqual({
      outcome: 'skipped',
      detail: 'no command is configured for clear',
    });
  });

  it('passes the action and ratio to a configured command in its environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'memgov-env-'));
    const out = join(dir, 'env.txt');
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, process.env.MEMGOV_ACTION + ' ' + process.env.MEMGOV_RATIO)`;
    const perform = withConfig((c) => ({
      ...c,
      agent: {
        ...c.agent,
        commandArgv: { ...c.agent.commandArgv, compact: [process.execPath, '-e', script] },
      },
    }));
    expect(await perform(request(1, 'compact'), signal)).toEqual({ outcome: 'ok' });
    expect(readFileSync(out, 'utf8')).toBe('compact 0.8');
  });

  it('at tier 3 with no agent known, says there was nothing to stop', async () => {
    const perform = withConfig((c) => c);
    expect(await perform(request(1, 'archive-terminate'), signal)).toEqual({
      outcome: 'failed',
      detail: 'no agent process is known: nothing to stop',
    });
  });
});
