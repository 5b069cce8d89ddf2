// Relaunch step-down through runDaemon (docs/DESIGN.md, "Relaunch step-down"): a launched fake
// agent climbs to 95% as soon as it starts (and drops to 10% when it is stopped). Tier 3 stops
// it each time; the first relaunch resumes, the second (after a memgov restart, which keeps the
// tier-3 history in the state file) starts fresh and names the archives, the third tier 3 ends
// memgov with exit 4.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FIXTURE,
  FIXTURE_LIMIT_BYTES,
  startFixtureDaemon,
  type FixtureDaemon,
} from '../support/fixture-daemon.ts';

/** Writes `high` bytes into the usage file at start, `low` on SIGTERM; reads stdin meanwhile. */
const CLIMBING_AGENT = `
const fs = require('node:fs');
const [usage, high, low] = process.argv.slice(1);
fs.writeFileSync(usage, high + '\\n');
process.stdin.resume();
process.on('SIGTERM', () => {
  try { fs.writeFileSync(usage, low + '\\n'); } catch {}
  process.exit(143);
});
setInterval(() => {}, 60000);
`;

function scratch(): { work: string; agent: string[] } {
  const work = mkdtempSync(join(tmpdir(), 'memgov-stepdown-'));
  cpSync(FIXTURE, join(work, 'cgroup'), { recursive: true });
  mkdirSync(join(work, 'session'));
  writeFileSync(join(work, 'session', 'conversation.jsonl'), '{"turn":1}\n');
  const bytes = (ratio: number): string => String(Math.round(ratio * FIXTURE_LIMIT_BYTES));
  const usage = join(work, 'cgroup', 'memory.usage_in_bytes');
  const agent = [process.execPath, '-e', CLIMBING_AGENT, usage, bytes(0.95), bytes(0.1)];
  return { work, agent };
}

function start(work: string, agent: readonly string[]): FixtureDaemon {
  return startFixtureDaemon({
    work,
    initialRatio: 0.1,
    agentCommand: agent,
    daemon: {
      agent: { profile: 'generic', terminateGraceMs: 2_000 },
      archive: { dir: join(work, 'archive'), paths: [join(work, 'session')] },
    },
  });
}

const isTier3 = (f: Record<string, unknown>): boolean => f.action === 'archive-terminate';

describe('relaunch step-down through runDaemon', () => {
  it('resume -> (memgov restarts) -> fresh -> exit 4, each after a tier 3', async () => {
    const { work, agent } = scratch();
    try {
      const first = start(work, agent);
      await first.waitFor('decision', isTier3);
      const resumed = await first.waitFor('relaunching agent');
      expect(resumed.step).toBe('resume');
      await first.waitFor('agent started', () => first.named('agent started').length >= 2);
      expect(await first.stop({ keep: true })).toBe(0);

      // A new memgov over the same state file: the tier 3 it restored counts.
      const second = start(work, agent);
      await second.waitFor('decision', isTier3, 15_000);
      const fresh = await second.waitFor('relaunching agent', undefined, 15_000);
      expect(fresh.step).toBe('fresh');
      const named = second.named(
        'relaunching fresh: the resumed agent met tier 3 again within relaunchWindowMs',
      );
      expect(named).toHaveLength(1);
      const kept = named[0]?.archivesKept as string[];
      expect(kept).toHaveLength(1);
      expect(kept[0]).toContain(join(work, 'archive'));
      expect(kept[0]).toMatch(/tier3/);

      // The fresh agent climbs straight back: the third tier 3 archives, stops it, and memgov ends.
      expect(await second.exited).toBe(4);
      const tier3s = second.named('decision').filter(isTier3);
      expect(tier3s).toHaveLength(2);
      const spent = second.named(
        'relaunch budget spent: a third tier 3 within relaunchWindowMs; exiting 4',
      );
      expect(spent).toHaveLength(1);
      expect(spent[0]).toMatchObject({ relaunchWindowMs: 1_800_000, agentExitCode: 143 });
      expect(second.named('agent started')).toHaveLength(2);
      expect(second.named('session archived')).toHaveLength(2);
      expect(second.named('relaunching agent')).toHaveLength(1);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);

  it('with the step-down off (relaunchWindowMs 0) every relaunch resumes', async () => {
    const { work, agent } = scratch();
    const daemon = startFixtureDaemon({
      work,
      initialRatio: 0.1,
      agentCommand: agent,
      daemon: { agent: { profile: 'generic', terminateGraceMs: 2_000 }, relaunchWindowMs: 0 },
    });
    try {
      await daemon.waitFor(
        'relaunching agent',
        () => daemon.named('relaunching agent').length >= 3,
        20_000,
      );
      expect(new Set(daemon.named('relaunching agent').map((f) => f.step))).toEqual(
        new Set(['resume']),
      );
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  }, 60_000);
});
