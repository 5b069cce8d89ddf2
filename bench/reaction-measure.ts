// The measurement half of the reaction benches (bench/reaction.bench.ts on the host's cgroup v1,
// bench/guest-reaction.bench.ts in the cgroup v2 guest): parsing what each governor prints and
// placing the threshold crossing in the bench's own series of readings. Pure functions, so
// test/bench/reaction-measure.test.ts checks them on a recorded series.

export const MiB = 1024 * 1024;
/** The seed loop's relaxed interval (bench/seed-governor.sh RELAXED_INTERVAL_S). */
export const SEED_RELAXED_MS = 60_000;

/** The trial cgroup both reaction benches make: a 1 GiB limit, memgov's default compactAt. */
export const LIMIT_BYTES = 1024 * MiB;
export const COMPACT_AT = 0.7;
/** The agent never holds more than this: ~0.87 of the limit with its own overhead, never OOM. */
export const CAP_MIB = 850;
/** The bench's own reading of the working set, which places the crossing. */
export const POLL_MS = 10;

export interface Decision {
  readonly t: number;
  readonly ratio: number;
  readonly action: string | null;
  readonly nextPollMs: number;
  readonly speed: string;
}

/** A `decision` record of memgov's JSON log; null for any other line. */
export function memgovDecision(line: string): Decision | null {
  if (!line.startsWith('{')) return null;
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (record.message !== 'decision' || typeof record.t !== 'number') return null;
    return {
      t: record.t,
      ratio: Number(record.ratio),
      action: typeof record.action === 'string' ? record.action : null,
      nextPollMs: Number(record.nextPollMs),
      speed: String(record.speed),
    };
  } catch {
    return null;
  }
}

/** One line of bench/seed-governor.sh; null for any other line. */
export function seedDecision(line: string): Decision | null {
  const match = /^t_ms=(\d+) ratio=([\d.]+) action=(\S+) next_s=([\d.]+)/.exec(line);
  if (match === null) return null;
  return {
    t: Number(match[1]),
    ratio: Number(match[2]),
    action: match[3] === 'none' ? null : (match[3] as string),
    nextPollMs: Number(match[4]) * 1000,
    speed: Number(match[4]) * 1000 >= SEED_RELAXED_MS ? 'relaxed' : 'fast',
  };
}

export const compactBy =
  (parse: (line: string) => Decision | null) =>
  (line: string): Decision | null => {
    const decision = parse(line);
    return decision?.action === 'compact' ? decision : null;
  };

/** One reading of a cgroup by the bench itself: working set = usage - inactive file cache. */
export interface WorkingSet {
  readonly atMs: number;
  readonly usedBytes: number;
  readonly limitBytes: number;
  readonly ratio: number;
}

export interface Crossing {
  /** Interpolated time the working set reached the threshold. */
  readonly atMs: number;
  /** Gap between the last poll below and the first at or above (the crossing's uncertainty). */
  readonly bracketMs: number;
  /** Growth over the second before the crossing, MiB/s (what the agent really achieved). */
  readonly measuredMiBPerSec: number;
}

/**
 * The crossing of `threshold`, once `history` (oldest first, the newest reading last) has reached
 * it: linear interpolation between the last reading below and the first at or above. Null while
 * the newest reading is still below.
 */
export function crossingOf(history: readonly WorkingSet[], threshold: number): Crossing | null {
  const reading = history.at(-1);
  if (reading === undefined || reading.ratio < threshold) return null;
  const below = history.at(-2) ?? reading;
  const span = reading.ratio - below.ratio;
  const atMs =
    span > 0
      ? below.atMs + ((threshold - below.ratio) / span) * (reading.atMs - below.atMs)
      : reading.atMs;
  const secondAgo = history.find((h) => h.atMs >= reading.atMs - 1_000) ?? reading;
  const dtMs = reading.atMs - secondAgo.atMs;
  return {
    atMs,
    bracketMs: reading.atMs - below.atMs,
    measuredMiBPerSec:
      dtMs > 0 ? (reading.usedBytes - secondAgo.usedBytes) / MiB / (dtMs / 1000) : 0,
  };
}

/** Reaction: the dispatching decision's sample time minus the crossing, whole ms. */
export function reactionMs(decision: Decision, crossing: Crossing): number {
  return Math.round(decision.t - crossing.atMs);
}
