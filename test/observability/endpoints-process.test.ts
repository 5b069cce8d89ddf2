// The shipped bundle as a child process: with the inspector (a viewer connected) and the metrics
// endpoint both serving, SIGTERM ends `memgov run` by itself, with exit 0, no SIGKILL needed;
// and `memgov start --detach --inspect` hands the flag to the detached daemon.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureCgroup } from './fixture-daemon.ts';
import WebSocket from 'ws';
import { runBundle } from '../support/cli.ts';
import { Cleanup, isGone, pollUntil, startMemgov } from '../support/daemon.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe('memgov run with its endpoints open', () => {
  it('exits 0 on SIGTERM with a viewer connected and a scrape done', async () => {
    const { run } = fixtureCgroup(cleanup, 0.3);
    const daemon = startMemgov(cleanup, [...run, '--inspect=0', '--metrics=0']);
    const inspector = await daemon.waitFor(
      'the inspector',
      (r) => r.message === 'inspector listening',
      10_000,
    );
    const metrics = await daemon.waitFor(
      'the metrics',
      (r) => r.message === 'metrics listening',
      10_000,
    );
    const socket = new WebSocket(`ws://127.0.0.1:${String(inspector.port)}/`);
    cleanup.add(() => socket.terminate());
    const first = await new Promise<string>((resolve, reject) => {
      socket.once('message', (data: Buffer) => resolve(data.toString()));
      socket.once('error', reject);
    });
    expect(JSON.parse(first)).toMatchObject({ type: '@xstate.actor' });
    // A keep-alive scrape: its connection must not hold the server open either.
    const scraped = await fetch(`http://127.0.0.1:${String(metrics.port)}/metrics`);
    expect(await scraped.text()).toContain('memgov_samples_total');

    const status = await daemon.stop();
    expect(status).toEqual({ code: 0, signal: null });
    expect(daemon.named('stopping')).toMatchObject([{ signal: 'SIGTERM' }]);
  });
});

describe('memgov start --detach --inspect', () => {
  it('starts the detached daemon with the inspector on', async () => {
    const { dir, cgroup, stateFile } = fixtureCgroup(cleanup, 0.3);
    const logFile = join(dir, 'memgov.log');
    const started = runBundle([
      'start',
      '--detach',
      '--log-file',
      logFile,
      '--cgroup',
      cgroup,
      '--state-file',
      stateFile,
      '--inspect=0',
    ]);
    expect(started.code).toBe(0);
    const pid = Number(/\(pid (\d+)\)/.exec(started.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);
    cleanup.add(async () => {
      if (isGone(pid)) return;
      process.kill(pid, 'SIGTERM');
      await pollUntil(`memgov ${pid} to exit`, 10_000, () => (isGone(pid) ? true : undefined));
    });
    const listening = await pollUntil('the detached inspector', 10_000, () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { message: string; port?: number })
        .find((record) => record.message === 'inspector listening'),
    );
    const page = await fetch(`http://127.0.0.1:${String(listening.port)}/`);
    expect(page.status).toBe(200);
  });
});
