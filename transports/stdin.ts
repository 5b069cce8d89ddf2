// The stdin transport types one line into the agent memgov launched (docs/TRANSPORTS.md).
import type { Writable } from 'node:stream';
import { toResult, type Settled } from './command.ts';
import type { Transport } from './transport.ts';

/** Types one line into a stream the agent reads (its stdin); ok once the bytes are handed over. */
export function typeLine(stream: Writable | null, text: string): Promise<Settled> {
  if (stream === null || stream.destroyed || !stream.writable) {
    return Promise.resolve({
      outcome: 'failed',
      detail: 'the agent is not running (no stdin to type into)',
    });
  }
  return new Promise((resolve) => {
    stream.write(`${text}\n`, (error) =>
      resolve(
        error
          ? { outcome: 'failed', detail: `writing to the agent's stdin: ${error.message}` }
          : { outcome: 'ok' },
      ),
    );
  });
}

/** The stdin transport over the stream the agent reads; `stdinOf` is asked at send time. */
export function stdinTransport(stdinOf: () => Writable | null): Transport {
  return { send: (_action, text) => toResult(typeLine(stdinOf(), text)) };
}
