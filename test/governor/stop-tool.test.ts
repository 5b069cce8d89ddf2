// The stop-tool rung (docs/DESIGN.md#whose-memory-it-is), pure: when the sample's largest child
// subtree holds at least toolShareAt of the working set, the rung at that sample is stop-tool,
// and it counts as the tier it replaced (the ladder still never skips a tier). Config rules and
// replay reading `tool` from trace lines.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import type { ToolUse } from '../../machines/attribution.ts';
import type { Sample } from '../../machines/policy.ts';
import { tierOf } from '../../machines/records.ts';
import { createActor } from 'xstate';
import { createGovernorMachine } from '../../machines/governor.machine.ts';
import { at, drive, LIMIT_BYTES, policy } from '../support/governor.ts';
import { runMain, tempFiles } from '../support/cli.ts';

const T0 = 1_000_000;

/** A sample at `ratio` whose largest child subtree holds `share` of the working set. */
function withTool(t: number, ratio: number, share: number): Sample {
  const tool: ToolUse = {
    pid: 4242,
    pgid: 4242,
    startTicks: 777,
    bytes: Math.round(share * ratio * LIMIT_BYTES),
    command: 'npm run build',
  };
  return { ...at(t, ratio), tool };
}

describe('the stop-tool rung', () => {
  it('replaces each agent rung while the tool holds the memory, counting as that tier', () => {
    const steps = drive([
      withTool(T0, 0.75, 0.6),
      withTool(T0 + 100, 0.88, 0.6),
      withTool(T0 + 200, 0.95, 0.6),
    ]);
    expect(steps.map((s) => [s.decision.action, s.decision.replaces])).toEqual([
      ['stop-tool', 'compact'],
      ['stop-tool', 'clear'],
      ['stop-tool', 'archive-terminate'],
    ]);
    expect(steps.map((s) => s.state.split(',').slice(0, 2).join(','))).toEqual([
      'ladder.compacted,tier3.armed',
      'ladder.cleared,tier3.armed',
      'ladder.cleared,tier3.disarmed',
    ]);
    const request = steps[0]?.emitted[0];
    expect(request).toMatchObject({
      action: 'stop-tool',
      replaces: 'compact',
      tool: { pid: 4242 },
    });
  });

  it('a tool that comes back meets the next rung; the agent rungs return when the tool is small', () => {
    const steps = drive([
      withTool(T0, 0.75, 0.9), // stop-tool as tier 1
      withTool(T0 + 100, 0.88, 0.1), // the agent holds it now: tier 2 is a clear, no new compact
    ]);
    expect(steps.map((s) => s.decision.action)).toEqual(['stop-tool', 'clear']);
  });

  it('below toolShareAt, with tools: ignore, or with no tool the agent rung stays', () => {
    expect(drive([withTool(T0, 0.75, 0.49)])[0]?.decision.action).toBe('compact');
    expect(drive([withTool(T0, 0.75, 0.5)])[0]?.decision.action).toBe('stop-tool');
    const ignore = policy({ tools: 'ignore' });
    expect(drive([withTool(T0, 0.75, 0.9)], ignore)[0]?.decision.action).toBe('compact');
    expect(drive([withTool(T0, 0.75, 0.4)], policy({ toolShareAt: 0.3 }))[0]?.decision.action).toBe(
      'stop-tool',
    );
    expect(drive([at(T0, 0.75)])[0]?.decision.action).toBe('compact');
    // No rung due, no stop-tool: the tool alone never triggers anything below compactAt.
    expect(drive([withTool(T0, 0.6, 1)])[0]?.decision.action).toBeNull();
  });

  it('the tier a stop-tool leaves the governor at is the tier it replaced', () => {
    const actor = createActor(createGovernorMachine(policy())).start();
    actor.send({ type: 'SAMPLE', sample: withTool(T0, 0.75, 0.6) });
    const { facts } = actor.getSnapshot().context;
    expect(tierOf(facts, T0, policy())).toBe(1);
  });
});

describe('stop-tool settings', () => {
  it('are validated with messages naming the key', () => {
    const loaded = loadConfig({
      env: { MEMGOV_TOOLS: 'kill', MEMGOV_TOOL_SHARE_AT: '1.5' },
      daemonFlags: { agent: { toolKillAfterMs: -1 } },
    });
    const problems = loaded._unsafeUnwrapErr().join('\n');
    expect(problems).toMatch(/MEMGOV_TOOLS: tools: must be "stop" or "ignore" \(got "kill"\)/);
    expect(problems).toMatch(/toolShareAt: must be between 0\.01 and 1/);
    expect(problems).toMatch(/agent\.toolKillAfterMs/);
    const ok = loadConfig({
      env: { MEMGOV_TOOLS: 'ignore', MEMGOV_TOOL_SHARE_AT: '0.6' },
      daemonFlags: { agent: { toolKillAfterMs: 500 } },
    })._unsafeUnwrap();
    expect([ok.policy.tools, ok.policy.toolShareAt, ok.daemon.agent.toolKillAfterMs]).toEqual([
      'ignore',
      0.6,
      500,
    ]);
  });
});

describe('replay reads tool from trace lines', () => {
  it('a line whose tool holds the memory replays as stop-tool; a garbled tool is named', async () => {
    const tool = { pid: 7, pgid: 7, bytes: 600_000_000, command: 'make -j8' };
    const line = (t: number, ratio: number, extra: object = {}): string =>
      JSON.stringify({
        t,
        current: ratio * LIMIT_BYTES,
        inactiveFile: 0,
        limit: LIMIT_BYTES,
        ...extra,
      });
    const dir = tempFiles({
      'trace.jsonl': [line(T0, 0.75, { tool }), line(T0 + 100, 0.8)].join('\n') + '\n',
      'bad.jsonl': line(T0, 0.75, { tool: { pid: 'x' } }) + '\n',
    });
    const run = await runMain(['replay', join(dir, 'trace.jsonl'), '--json']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toContain('"action":"stop-tool"');
    // The HTML timeline of the same replay names the tool on the stop-tool marker.
    const html = join(dir, 'replay.html');
    expect((await runMain(['replay', join(dir, 'trace.jsonl'), '--html', html])).code).toBe(0);
    expect(readFileSync(html, 'utf8')).toContain('tool: make -j8 (pid 7), 572 MiB');
    const bad = await runMain(['replay', join(dir, 'bad.jsonl'), '--json']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/bad.jsonl:1: "tool" must be \{"pid", "pgid", "bytes", "command"\}/);
  });
});
