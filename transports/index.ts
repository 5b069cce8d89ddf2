// The one table from transport kind to a factory (docs/TRANSPORTS.md). Adding a transport is one
// file in transports/ and one row here. The tmux row is wired by actors/perform.ts until its
// delivery protocol moves here.
import type { Writable } from 'node:stream';
import { commandTransport } from './command.ts';
import { noneTransport } from './none.ts';
import { stdinTransport } from './stdin.ts';
import type { Transport } from './transport.ts';

/** What a factory may draw on; each transport takes only its own part. */
export interface TransportContext {
  readonly argvOf: (action: 'compact' | 'clear') => readonly string[] | null;
  readonly timeoutMs: number;
  readonly ratio: number;
  readonly stdinOf: () => Writable | null;
  readonly tmux: () => Transport;
}

export type TransportKindName = 'none' | 'stdin' | 'command' | 'tmux';

export const TRANSPORTS: Readonly<Record<TransportKindName, (ctx: TransportContext) => Transport>> =
  {
    none: () => noneTransport,
    stdin: (ctx) => stdinTransport(ctx.stdinOf),
    command: (ctx) => commandTransport(ctx),
    tmux: (ctx) => ctx.tmux(),
  };
