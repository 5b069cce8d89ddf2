// One interface for every way memgov delivers a command to the agent (docs/TRANSPORTS.md).
// transports/ imports adapters/ and lib/ only, so the result types live here and the actor
// maps them to its own PerformResult.
import type { ResultAsync } from 'neverthrow';

/** The rung actions a transport can be asked to deliver. */
export type TransportAction = 'compact' | 'clear';

/** A delivery that happened (`ok`) or was deliberately not attempted (`skipped`). */
export interface Delivery {
  readonly outcome: 'ok' | 'skipped';
  readonly detail?: string;
}

/** Why a delivery failed; `timed-out` when the agent or command did not finish in time. */
export interface TransportError {
  readonly outcome: 'failed' | 'timed-out';
  readonly detail: string;
}

/** Every transport (none, stdin, command, tmux) implements this one method. */
export interface Transport {
  send(
    action: TransportAction,
    text: string,
    signal: AbortSignal,
  ): ResultAsync<Delivery, TransportError>;
}
