// The Stately inspector stream, read by a plain websocket client from the real daemon over a
// fixture cgroup: the supervisor and its three children are announced, a sample that moves the
// governor to another state arrives as a snapshot, and a secret planted in the environment (and
// echoed into an action's detail by the compact command) never leaves the process.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createRedactor, MAX_MESSAGE_BYTES, sanitize } from '../../adapters/inspector.ts';
import { Cleanup, pollUntil } from '../support/daemon.ts';
import { decisionCount, startDaemon, takenPort } from './fixture-daemon.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Message {
  readonly type: string;
  readonly name?: string;
  readonly sessionId: string;
  readonly parentId?: string;
  readonly definition?: string;
  readonly snapshot?: { readonly value?: unknown; readonly context?: unknown };
  readonly event?: { readonly type: string };
  readonly _version?: string;
}

/** Connects a viewer and collects every message it receives (raw text and parsed). */
async function viewer(port: number, origin?: string) {
  const raw: string[] = [];
  const socket = new WebSocket(
    `ws://127.0.0.1:${port}/`,
    origin === undefined ? {} : { headers: { Origin: origin } },
  );
  socket.on('message', (data: Buffer) => raw.push(data.toString()));
  cleanup.add(() => socket.terminate());
  const opened = await new Promise<number | null>((resolve) => {
    socket.once('open', () => resolve(null));
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? -1));
    socket.once('error', () => resolve(-1));
  });
  return {
    socket,
    refused: opened,
    raw,
    messages: (): Message[] => raw.map((text) => JSON.parse(text) as Message),
    closed: new Promise<void>((resolve) => socket.once('close', () => resolve())),
  };
}

const SECRET = 'planted-secret-7f3a9c1e5b';

describe('memgov run --inspect', () => {
  it('streams the actors and the governor moving to another state, with secrets redacted', async () => {
    process.env.MEMGOV_TEST_TOKEN = SECRET;
    cleanup.add(() => void delete process.env.MEMGOV_TEST_TOKEN);
    const daemon = startDaemon(cleanup, 0.3, () => ({
      inspect: { enabled: true, port: '0' },
      // A compact that fails and prints the token: the detail carries it into the context.
      agent: {
        commandArgv: {
          compact: [
            process.execPath,
            '-e',
            'console.error(process.env.MEMGOV_TEST_TOKEN); process.exit(1)',
          ],
        },
      },
    }));
    const listening = await daemon.waitFor('inspector listening');
    expect(listening.host).toBe('127.0.0.1');
    const port = listening.port as number;
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain('https://stately.ai/inspect');

    const client = await viewer(port);
    expect(client.refused).toBeNull();
    const actors = await pollUntil('the four actors', 5_000, () => {
      const names = client.messages().filter((m) => m.type === '@xstate.actor');
      return names.length >= 4 ? names : undefined;
    });
    expect(actors.map((a) => a.name).sort()).toEqual([
      'executor',
      'governor',
      'sampler',
      'supervisor',
    ]);
    const governor = actors.find((a) => a.name === 'governor');
    const supervisor = actors.find((a) => a.name === 'supervisor');
    expect(governor?.parentId).toBe(supervisor?.sessionId);
    expect(governor?._version).toBe('0.7.2');
    expect(JSON.parse(governor?.definition ?? '{}')).toMatchObject({ id: 'governor' });
    expect(governor?.snapshot?.value).toMatchObject({ ladder: 'idle' });

    // 75%: the governor compacts and its ladder moves on.
    daemon.setRatio(0.75);
    const moved = await pollUntil('the governor in ladder.compacted', 10_000, () =>
      client
        .messages()
        .find(
          (m) =>
            m.type === '@xstate.snapshot' &&
            m.sessionId === governor?.sessionId &&
            (m.snapshot?.value as { ladder?: string } | undefined)?.ladder === 'compacted',
        ),
    );
    expect(moved.event?.type).toBe('SAMPLE');
    await daemon.waitFor('action result', (f) => f.outcome === 'failed');
    // The failed compact's detail, with the token in it, reaches the supervisor's context.
    const withDetail = await pollUntil('a snapshot holding the action detail', 5_000, () =>
      client.raw.find((text) => text.includes('"outcome":"failed"')),
    );
    expect(withDetail).toContain('[redacted]');
    expect(client.raw.join('\n')).not.toContain(SECRET);
    expect(Math.max(...client.raw.map((text) => text.length))).toBeLessThanOrEqual(
      MAX_MESSAGE_BYTES,
    );

    // Shutdown closes the stream (the daemon's stop path closes the server and its clients).
    expect(await daemon.stop()).toBe(0);
    await client.closed;
  });

  it('refuses a websocket opened by a page from another origin', async () => {
    const daemon = startDaemon(cleanup, 0.3, () => ({
      inspect: { enabled: true, port: '0' },
    }));
    const { port } = await daemon.waitFor('inspector listening');
    const foreign = await viewer(port as number, 'http://evil.example');
    expect(foreign.refused).toBe(403);
    const own = await viewer(port as number, `http://127.0.0.1:${String(port)}`);
    expect(own.refused).toBeNull();
  });

  it('logs one clear line when the port is taken, and keeps governing', async () => {
    const port = await takenPort(cleanup);
    const daemon = startDaemon(cleanup, 0.3, () => ({
      inspect: { enabled: true, port: String(port) },
    }));
    const failure = await daemon.waitFor('inspector not served: governing goes on without it');
    expect(failure.detail).toBe(`127.0.0.1:${port} is already in use (choose another port)`);
    await daemon.waitFor('decision', () => decisionCount(daemon) >= 3);
    expect(daemon.log.records.filter((r) => r.message.startsWith('inspector not'))).toHaveLength(1);
    expect(await daemon.stop()).toBe(0);
  });
});

describe('the inspector sanitiser', () => {
  const redactor = createRedactor([SECRET, 'short']);

  it('keeps only argv[0] of a command line, hides environment and content keys, and bounds size', () => {
    const cleaned = sanitize(redactor, {
      agentCommand: ['claude', '--api-key', 'abc'],
      commandArgv: { compact: ['kubectl', 'exec', 'pod'] },
      env: { HOME: '/root' },
      contents: 'file text',
      note: `token=${SECRET}; short stays`,
      long: 'x'.repeat(5_000),
      list: Array.from({ length: 100 }, (_, i) => i),
      fn: function namedAction() {},
    }) as Record<string, unknown>;
    expect(cleaned.agentCommand).toEqual(['claude', '[2 arguments left out]']);
    expect(cleaned.commandArgv).toEqual({ compact: ['kubectl', '[2 arguments left out]'] });
    expect(cleaned.env).toBe('[redacted]');
    expect(cleaned.contents).toBe('[redacted]');
    expect(cleaned.note).toBe('token=[redacted]; short stays');
    expect((cleaned.long as string).length).toBeLessThan(500);
    expect(cleaned.list).toHaveLength(41);
    expect(cleaned.fn).toEqual({ type: 'namedAction' });
  });

  it('survives cycles, errors and values JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = { n: Number.NaN, big: 10n };
    cyclic.self = cyclic;
    cyclic.error = new Error(`failed with ${SECRET}`);
    expect(sanitize(redactor, cyclic)).toEqual({
      n: 'NaN',
      big: '10',
      self: '[circular]',
      error: { name: 'Error', message: 'failed with [redacted]' },
    });
  });
});
