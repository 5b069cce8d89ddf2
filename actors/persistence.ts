// Persistence of the whole actor system (docs/DESIGN.md, "Persistence"): the supervisor's
// snapshot, children included, restored at start and written on every durable change of the
// governor's context. The state file's own format, atomic write and move-aside live in
// adapters/state-file.ts; this module decides what is written, when, and what a restore keeps.
import type { Snapshot } from 'xstate';
import {
  formatStateFileError,
  moveAside,
  readStateFile,
  writeStateFile,
} from '../adapters/state-file.ts';
import type { GovernorContext } from '../machines/governor.machine.ts';
import type { SupervisorContext } from '../machines/supervisor.machine.ts';
import type { Log } from './log.ts';

/** What the state file holds: the supervisor's persisted snapshot, children included. */
export interface PersistedSystem {
  readonly status?: string;
  readonly value?: unknown;
  readonly context?: {
    readonly governor?: GovernorContext | null;
    readonly restarts?: unknown;
  };
}

/** Without a durable change, the state file is still refreshed this often (for `status`). */
const STATUS_REFRESH_MS = 30_000;

/** The parts of the governor's context whose change must reach disk at once. */
export function durableKey(governor: GovernorContext | null): string {
  if (governor === null) return '';
  const { lastCompact, clearedSinceCompact, tier3Armed, speed } = governor.facts;
  return JSON.stringify([
    lastCompact,
    clearedSinceCompact,
    tier3Armed,
    speed,
    governor.actions,
    governor.oom,
    governor.tier3AtMs,
  ]);
}

/**
 * Reads the state file. Missing: null (start fresh). Unusable or a symbolic link: moved aside
 * (kept, never deleted), logged, null. Unreadable for another reason: 'refused' (memgov exits 1
 * rather than overwrite what it could not read).
 */
export function restoreState(
  path: string,
  log: Log,
  nowMs: number,
): PersistedSystem | null | 'refused' {
  const read = readStateFile(path);
  if (read.isErr() && read.error.kind === 'symlink') {
    // Planted or not, a link is never followed: the link itself is moved aside (rename does not
    // follow it), kept for whoever looks into it, and memgov starts fresh and governs.
    const moved = moveAside(path, nowMs);
    if (moved.isOk()) {
      log.warn('state file is a symbolic link: moved aside, starting fresh', {
        path,
        movedTo: moved.value,
      });
      return null;
    }
  }
  if (read.isErr()) {
    log.error('cannot read the state file', { path, detail: formatStateFileError(read.error) });
    return 'refused';
  }
  const state = read.value;
  if (state.kind === 'missing') return null;
  if (state.kind === 'unusable') {
    const moved = moveAside(path, nowMs);
    log.warn('state file unusable: moved aside, starting fresh', {
      path,
      reason: state.reason,
      movedTo: moved.isOk() ? moved.value : null,
      moveError: moved.isErr() ? formatStateFileError(moved.error) : null,
    });
    return null;
  }
  return state.snapshot as PersistedSystem;
}

/** What a restore hands the supervisor: the governor's context, and the whole snapshot if usable. */
export interface Restored {
  readonly governor: GovernorContext | null;
  /** The supervisor snapshot to start from; undefined: start the machine fresh from `governor`. */
  readonly snapshot: Snapshot<unknown> | undefined;
}

/**
 * Only an active supervisor with a governor restores whole; a final one (stopped, failed) gives
 * its governor's context to a fresh supervisor. Older state files carried `handedOverSeq` (the
 * hand-over bookkeeping the one action channel replaced): it is dropped, nothing else changes.
 * A restore re-emits no request, so no action the governor had dispatched runs again.
 */
export function restorable(restored: PersistedSystem | null): Restored {
  const governor = restored?.context?.governor ?? null;
  if (restored?.status !== 'active' || restored.value === undefined || governor === null)
    return { governor, snapshot: undefined };
  const context: Record<string, unknown> = { ...restored.context };
  delete context.handedOverSeq;
  return { governor, snapshot: { ...restored, context } as unknown as Snapshot<unknown> };
}

/** The supervisor's `persist` action, and a way to force the next write (at shutdown). */
export interface Persister {
  readonly persist: (args: {
    context: SupervisorContext;
    self: { getPersistedSnapshot(): unknown };
  }) => void;
  /** The next persist writes whatever changed (memgov is stopping). */
  readonly forceNext: () => void;
}

/** The objects durableKey reads; the governor keeps each by reference while it is unchanged. */
function durableParts(governor: GovernorContext | null): readonly unknown[] {
  if (governor === null) return [];
  const { lastCompact, clearedSinceCompact, tier3Armed, speed } = governor.facts;
  const { actions, oom, tier3AtMs } = governor;
  return [lastCompact, clearedSinceCompact, tier3Armed, speed, actions, oom, tier3AtMs];
}

function sameParts(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

export function createPersister(stateFile: string, log: Log, now: () => number): Persister {
  let persistedKey = '';
  let persistedAtMs = Number.NEGATIVE_INFINITY;
  // The parts behind persistedKey: when every one is the same object, the key is too, and the
  // JSON.stringify of the action records is skipped (a sample that changes nothing durable).
  let persistedParts: readonly unknown[] | null = null;
  return {
    persist: ({ context, self }) => {
      const parts = durableParts(context.governor);
      const unchanged = persistedParts !== null && sameParts(parts, persistedParts);
      const key = unchanged ? persistedKey : durableKey(context.governor);
      const nowMs = now();
      // Durable facts are written at once; otherwise a refresh now and then keeps `status` current.
      if (key === persistedKey && nowMs - persistedAtMs < STATUS_REFRESH_MS) return;
      // XState runs this action before it replaces the actor's snapshot: the snapshot is one
      // event old, the `context` given here is current. Write the current one, or a kill -9
      // right after a dispatch would lose the action and a restart would run it again.
      const current = { ...(self.getPersistedSnapshot() as object), context };
      const written = writeStateFile(stateFile, current, nowMs);
      // Acting matters more than recording: a failed write is logged, governing goes on.
      if (written.isErr()) {
        log.error('state file not written', { detail: formatStateFileError(written.error) });
        return;
      }
      persistedKey = key;
      persistedParts = parts;
      persistedAtMs = nowMs;
    },
    forceNext: () => {
      persistedKey = '';
      persistedParts = null;
    },
  };
}
