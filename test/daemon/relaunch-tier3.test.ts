// Through runDaemon with a launched fake agent: after tier 3 the agent is relaunched, and the new
// incarnation climbs straight back (the fixture cgroup stays at 95%). Tier 3 fires again for it
// (AGENT.STARTED re-armed it); before, tier 3 stayed disarmed and only the kernel was left.
import { describe, expect, it } from 'vitest';
import { startFixtureDaemon } from '../support/fixture-daemon.ts';

/** An agent that reads its stdin (the stdin transport) and lives until it is signalled. */
const FAKE_AGENT = [process.execPath, '-e', 'process.stdin.resume(); setInterval(() => {}, 60000)'];

describe('tier 3 re-arms for a relaunched agent', () => {
  it('a relaunched agent at 95% meets tier 3 again, not the kernel', async () => {
    const daemon = startFixtureDaemon({
      initialRatio: 0.95,
      agentCommand: FAKE_AGENT,
      daemon: { agent: { profile: 'generic', terminateGraceMs: 2_000 } },
    });
    try {
      const isTier3 = (f: Record<string, unknown>): boolean => f.action === 'archive-terminate';
      const first = await daemon.waitFor('decision', isTier3);
      await daemon.waitFor('agent started', () => daemon.named('agent started').length >= 2);
      await daemon.waitFor(
        'decision',
        (f) => isTier3(f) && (f.t as number) > (first.t as number),
        10_000,
      );
      const pids = daemon.named('agent started').map((f) => f.pid);
      expect(new Set(pids).size).toBe(pids.length);
      const actions = daemon
        .named('decision')
        .map((f) => f.action)
        .filter((a) => a !== null);
      expect(actions.slice(0, 3)).toEqual(['compact', 'archive-terminate', 'archive-terminate']);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  }, 30_000);
});
