// Prometheus metrics, scraped over HTTP from the real daemon after it compacted a fixture cgroup
// through the command transport: every series the operators' guide documents holds the value
// the run produced, the endpoint is loopback-bound, a taken port costs one log line and no
// governing, and shutdown closes the listener.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup } from '../support/daemon.ts';
import {
  decisionCount,
  LIMIT_BYTES,
  shrinkArgv,
  startDaemon,
  takenPort,
} from './fixture-daemon.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** The value of one series (`name{labels}` exactly as exposed), or undefined. */
function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function scrape(port: number, path = '/metrics'): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`);
}

describe('memgov run --metrics', () => {
  it('exposes the decision, the compact and its duration, the tier and the governor state', async () => {
    const daemon = startDaemon(cleanup, 0.75, (work) => ({
      metrics: { enabled: true, port: '0' },
      agent: { commandArgv: { compact: shrinkArgv(work, 0.5) } },
    }));
    const listening = await daemon.waitFor('metrics listening');
    expect(listening).toMatchObject({ host: '127.0.0.1' });
    const port = listening.port as number;
    await daemon.waitFor('action effect');
    // The first sample after the result measured 50%: wait for the scrape to show it.
    const decisions = decisionCount(daemon);
    const response = await scrape(port);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();

    expect(text).toMatch(/^# HELP memgov_memory_ratio \S.+$/m);
    expect(text).toMatch(/^# TYPE memgov_actions_total counter$/m);
    expect(series(text, 'memgov_actions_total{tier="1",action="compact",outcome="ok"}')).toBe(1);
    expect(series(text, 'memgov_action_duration_seconds_count{action="compact"}')).toBe(1);
    expect(series(text, 'memgov_action_duration_seconds_sum{action="compact"}')).toBeGreaterThan(0);
    expect(series(text, 'memgov_limit_bytes')).toBe(LIMIT_BYTES);
    expect(series(text, 'memgov_memory_ratio')).toBeCloseTo(0.5, 6);
    expect(series(text, 'memgov_working_set_bytes')).toBe(0.5 * LIMIT_BYTES);
    expect(series(text, 'memgov_tier')).toBe(1);
    expect(series(text, 'memgov_samples_total')).toBeGreaterThanOrEqual(decisions);
    expect(series(text, 'memgov_poll_interval_seconds')).toBeGreaterThan(0);
    expect(series(text, 'memgov_governor_state{state="ladder.compacted"}')).toBe(1);
    expect(series(text, 'memgov_governor_state{state="ladder.idle"}')).toBe(0);
    expect(series(text, 'memgov_governor_state{state="ladder.cleared"}')).toBe(0);
    expect(series(text, 'memgov_oom_kills_total')).toBe(0);
    // The fixture is v1: PSI is the system's /proc/pressure/memory, where the kernel has PSI.
    const pressure = series(text, 'memgov_memory_pressure_some_avg10');
    if (existsSync('/proc/pressure/memory')) expect(pressure).toBeGreaterThanOrEqual(0);
    else expect(pressure).toBe(0);
    expect(series(text, 'memgov_child_restarts_total{child="governor"}')).toBe(0);
    expect(series(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(series(text, 'memgov_process_rss_anon_bytes')).toBeGreaterThan(0);
    // The cheap process series only: no event-loop monitor, no nodejs_* defaults.
    expect(text).not.toMatch(/^nodejs_/m);

    expect((await scrape(port, '/')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);

    expect(await daemon.stop()).toBe(0);
    await expect(scrape(port)).rejects.toThrow();
  });

  it('counts a failed action by its outcome and a cgroup read failure', async () => {
    const daemon = startDaemon(cleanup, 0.75, () => ({
      metrics: { enabled: true, port: '0' },
      agent: { commandArgv: { compact: [process.execPath, '-e', 'process.exit(3)'] } },
    }));
    const { port } = await daemon.waitFor('metrics listening');
    await daemon.waitFor('action result', (f) => f.outcome === 'failed');
    daemon.setRatio(Number.NaN);
    await daemon.waitFor('cgroup read failed');
    const text = await (await scrape(port as number)).text();
    expect(series(text, 'memgov_actions_total{tier="1",action="compact",outcome="failed"}')).toBe(
      1,
    );
    expect(series(text, 'memgov_sample_read_failures_total')).toBeGreaterThanOrEqual(1);
  });

  it('logs one clear line when the port is taken, and keeps governing', async () => {
    const port = await takenPort(cleanup);
    const daemon = startDaemon(cleanup, 0.3, () => ({
      metrics: { enabled: true, port: String(port) },
    }));
    await daemon.waitFor('metrics not served: governing goes on without it');
    const failures = daemon.log.records.filter((r) => r.message.startsWith('metrics not served'));
    expect(failures).toHaveLength(1);
    expect(failures[0]?.level).toBe('error');
    expect(failures[0]?.fields.detail).toBe(
      `127.0.0.1:${port} is already in use (choose another port)`,
    );
    // Governing went on: more than one sample was decided after the failure.
    await daemon.waitFor('decision', () => decisionCount(daemon) >= 3);
    expect(await daemon.stop()).toBe(0);
  });
});
