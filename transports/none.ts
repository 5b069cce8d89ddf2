// The none transport observes only (docs/TRANSPORTS.md): every send is skipped.
import { okAsync } from 'neverthrow';
import type { Transport } from './transport.ts';

export const noneTransport: Transport = {
  send: () =>
    okAsync({ outcome: 'skipped', detail: 'observe only: no agent transport is configured' }),
};
