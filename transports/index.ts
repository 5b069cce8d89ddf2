// The one table from transport kind to a factory (docs/TRANSPORTS.md). Adding a transport is one
// file in transports/ and one row here.
import type { Writable } from 'node:stream';
import { errAsync } from 'neverthrow';
import { commandTransport } from './command.ts';
import { noneTransport } from './none.ts';
import { stdinTransport } from './stdin.ts';
import { tmuxTransport, type TmuxTransportOptions } from './tmux.ts';
import type { Transport } from './transport.ts';

/** What a factory may draw on; each transport takes only its own part. */
export interface TransportContext {
  readonly argvOf: (action: 'compact' | 'clear') => readonly string[] | null;
  readonly timeoutMs: number;
  readonly ratio: number;
  readonly stdinOf: () => Writable | null;
  /** The agent's pane and the profile's checks; null when no pane is configured. */
  readonly paneOf: () => TmuxTransportOptions | null;
}

const NO_PANE: Transport = {
  send: () =>
    errAsync({
      outcome: 'failed',
      detail: 'the tmux transport has no pane (set agent.tmuxTarget)',
    }),
};

export type TransportKindName = 'none' | 'stdin' | 'command' | 'tmux';

export const TRANSPORTS: Readonly<Record<TransportKindName, (ctx: TransportContext) => Transport>> =
  {
    none: () => noneTransport,
    stdin: (ctx) => stdinTransport(ctx.stdinOf),
    command: (ctx) => commandTransport(ctx),
    tmux: (ctx) => {
      const pane = ctx.paneOf();
      return pane === null ? NO_PANE : tmuxTransport(pane);
    },
  };
