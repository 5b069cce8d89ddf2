import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TRANSPORT_KINDS } from '../../machines/daemon-config.ts';
import { TRANSPORTS, type TransportContext } from '../../transports/index.ts';

const signal = new AbortController().signal;

function context(overrides: Partial<TransportContext> = {}): TransportContext {
  return {
    argvOf: () => ['true'],
    timeoutMs: 5_000,
    ratio: 0.5,
    stdinOf: () => null,
    paneOf: () => null,
    ...overrides,
  };
}

describe('the transport table', () => {
  it('maps every configured kind to a transport', () => {
    for (const kind of TRANSPORT_KINDS)
      expect(typeof TRANSPORTS[kind](context()).send).toBe('function');
  });

  it('none skips: observe only', async () => {
    const result = await TRANSPORTS.none(context()).send('compact', '/compact', signal);
    expect(result._unsafeUnwrap().outcome).toBe('skipped');
  });

  it('stdin types the line into a real pipe', async () => {
    const pipe = new PassThrough();
    const chunks: string[] = [];
    pipe.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const result = await TRANSPORTS.stdin(context({ stdinOf: () => pipe })).send(
      'clear',
      '/clear',
      signal,
    );
    expect(result._unsafeUnwrap().outcome).toBe('ok');
    expect(chunks.join('')).toBe('/clear\n');
  });

  it('stdin fails when the agent has no stdin', async () => {
    const result = await TRANSPORTS.stdin(context()).send('clear', '/clear', signal);
    expect(result._unsafeUnwrapErr().outcome).toBe('failed');
  });

  it('command runs a real argv: true is ok, false fails, none configured skips', async () => {
    const ok = await TRANSPORTS.command(context()).send('compact', '', signal);
    expect(ok._unsafeUnwrap().outcome).toBe('ok');
    const failed = await TRANSPORTS.command(context({ argvOf: () => ['false'] })).send(
      'compact',
      '',
      signal,
    );
    expect(failed._unsafeUnwrapErr().detail).toBe('false exited with 1');
    const skipped = await TRANSPORTS.command(context({ argvOf: () => null })).send(
      'clear',
      '',
      signal,
    );
    expect(skipped._unsafeUnwrap().outcome).toBe('skipped');
  });

  it('tmux without a pane fails and says what to set', async () => {
    const result = await TRANSPORTS.tmux(context()).send('compact', '/compact', signal);
    expect(result._unsafeUnwrapErr()).toEqual({
      outcome: 'failed',
      detail: 'the tmux transport has no pane (set agent.tmuxTarget)',
    });
  });
});
