// The chain of session ids the governed agent went through since memgov launched or attached it
// (docs/AGENTS.md, "Session lineage"): a /clear starts a new session while the conversation stays
// in the one before, so tier 1's checkpoint, tier 3's archive and the relaunch's resume look at
// the whole chain, not only the live session. Fed by whoever reads the agent's session id (each
// action, and the tmux launcher's poll); kept in memory, as long as memgov runs.
import type { Log } from './log.ts';

export interface SessionLineage {
  /** Records the agent's session id now; a new id joins the chain (null: none known now). */
  observe(sessionId: string | null): void;
  /** The ids seen, in the order first seen. */
  chain(): readonly string[];
  /** The id seen last, or null. */
  current(): string | null;
}

/** An empty lineage; each id that joins it is logged. */
export function sessionLineage(log: Log): SessionLineage {
  const ids: string[] = [];
  let last: string | null = null;
  return {
    observe(sessionId) {
      if (sessionId === null) return;
      last = sessionId;
      if (ids.includes(sessionId)) return;
      ids.push(sessionId);
      log.info('agent session seen', { sessionId, lineage: [...ids] });
    },
    chain: () => [...ids],
    current: () => last,
  };
}
