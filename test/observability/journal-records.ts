// Journal records as the daemon writes them, for the journal and timeline tests.
import type { JournalSampleRecord } from '../../adapters/journal.ts';

export const LIMIT_BYTES = 1_000_000_000;

/** One decision at time t and the given ratio of a 1e9-byte limit; `extra` overrides the rest. */
export function journalSample(
  t: number,
  ratio: number,
  extra: Partial<JournalSampleRecord> = {},
): JournalSampleRecord {
  return {
    kind: 'sample',
    t,
    current: Math.round(ratio * LIMIT_BYTES),
    inactiveFile: 0,
    limit: LIMIT_BYTES,
    ratio,
    state: 'ladder.idle,tier3.armed,polling.relaxed',
    tier: 0,
    action: null,
    reason: 'below-threshold',
    nextPollMs: 1000,
    ...extra,
  };
}
