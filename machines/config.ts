// The policy configuration: defaults (docs/DESIGN.md#the-policy) and validation with messages that name
// the key, the value and the rule it broke. Pure: callers bring the raw object from a file,
// the environment or flags.
import { err, ok, type Result } from 'neverthrow';
import { quoteValue } from '../lib/quote.ts';

export interface PolicyConfig {
  /** What the ratio measures: working set (current - inactive_file, the kubelet's signal) or current. */
  readonly metric: 'workingSet' | 'current';
  readonly compactAt: number;
  readonly fastPollAt: number;
  readonly clearAt: number;
  readonly terminateAt: number;
  readonly compactWindowMs: number;
  /** Ceiling of the relaxed interval (below fastPollAt). */
  readonly relaxedPollMs: number;
  /** Ceiling of the fast interval (at or above fastPollAt). */
  readonly fastPollMs: number;
  /**
   * Interval while the growth rate projects the limit within a few intervals. 250 ms: at 1000 ms
   * (no faster than minPollMs) a sample landing just under compactAt during a 200 MiB/s burst
   * left a full second before the next one (measured median reaction 975 ms, max 1002 ms).
   */
  readonly urgentPollMs: number;
  /** Floor of the headroom-shortened relaxed and fast intervals. */
  readonly minPollMs: number;
  /** Fast polling continues until the ratio drops this far below fastPollAt. */
  readonly fastPollHysteresis: number;
  /**
   * Growth rate the headroom-shortened interval is sized for: 500 MiB/s, the reaction target. A
   * burst that starts just after a relaxed poll is first seen about `interval - headroom / rate`
   * after the crossing: sized for 200 MiB/s, a 500 MiB/s burst from 12.5% of 1 GiB was seen
   * ~1.8 s late (docs/BENCHMARKS.md, "Reaction at 500 MiB/s").
   */
  readonly assumedGrowthBytesPerSec: number;
  /** Urgent when the limit is projected within this many of the current intervals. */
  readonly urgentHorizonIntervals: number;
  /**
   * stop: when the agent's largest child subtree holds at least toolShareAt of the working set,
   * the rung is stop-tool instead of the agent action; ignore: the agent rungs only.
   */
  readonly tools: 'stop' | 'ignore';
  /** The share of the working set a child subtree must hold for the stop-tool rung. */
  readonly toolShareAt: number;
}

export const DEFAULT_POLICY: PolicyConfig = {
  metric: 'workingSet',
  compactAt: 0.7,
  fastPollAt: 0.8,
  clearAt: 0.85,
  terminateAt: 0.9,
  compactWindowMs: 300_000,
  relaxedPollMs: 60_000,
  fastPollMs: 15_000,
  urgentPollMs: 250,
  minPollMs: 1_000,
  fastPollHysteresis: 0.05,
  assumedGrowthBytesPerSec: 500 * 1024 * 1024,
  urgentHorizonIntervals: 2,
  tools: 'stop',
  toolShareAt: 0.5,
};

export const POLICY_KEYS = Object.keys(DEFAULT_POLICY) as readonly (keyof PolicyConfig)[];

export function isPolicyKey(key: string): key is keyof PolicyConfig {
  return (POLICY_KEYS as readonly string[]).includes(key);
}

/** One problem with a configuration value; `source` says where it came from (file, env, flag). */
export interface ConfigIssue {
  readonly key: string;
  readonly message: string;
  readonly source: string;
}

export function formatConfigIssue(issue: ConfigIssue): string {
  // A key comes from the file too: shown quoted when quoting changes more than the quotes
  // (a control character, a very long key).
  const quoted = quoteValue(issue.key);
  const key = quoted === `"${issue.key}"` ? issue.key : quoted;
  return `${issue.source}: ${key}: ${issue.message}`;
}

/** The keys whose value is one of a few words; the rest are numbers. */
const CHOICES = {
  metric: ['workingSet', 'current'],
  tools: ['stop', 'ignore'],
} as const satisfies Partial<Record<keyof PolicyConfig, readonly string[]>>;

type NumericKey = Exclude<keyof PolicyConfig, keyof typeof CHOICES>;

interface NumberRule {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  readonly unit: string;
}

const RATIO: NumberRule = { min: 0, max: 1, integer: false, unit: 'a ratio' };
const MS: NumberRule = { min: 1, max: 7 * 24 * 3_600_000, integer: true, unit: 'milliseconds' };

const RULES: Readonly<Record<NumericKey, NumberRule>> = {
  compactAt: RATIO,
  fastPollAt: RATIO,
  clearAt: RATIO,
  terminateAt: RATIO,
  compactWindowMs: MS,
  relaxedPollMs: MS,
  fastPollMs: MS,
  urgentPollMs: MS,
  minPollMs: MS,
  fastPollHysteresis: { min: 0, max: 1, integer: false, unit: 'a ratio' },
  assumedGrowthBytesPerSec: { min: 1, max: 2 ** 50, integer: false, unit: 'bytes per second' },
  urgentHorizonIntervals: { min: 0, max: 1000, integer: false, unit: 'a count of intervals' },
  toolShareAt: { min: 0.01, max: 1, integer: false, unit: 'a ratio' },
};

/** Accepts numbers, and numeric strings (values from env and flags arrive as strings). */
function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value.replace(/_/g, ''));
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

function checkNumber(key: NumericKey, value: unknown): number | string {
  const rule = RULES[key];
  const n = toNumber(value);
  if (n === undefined || !Number.isFinite(n)) {
    return `must be ${rule.unit} (got ${quoteValue(value)})`;
  }
  if (rule.integer && !Number.isInteger(n)) {
    return `must be whole ${rule.unit} (got ${quoteValue(value)})`;
  }
  if (n < rule.min || n > rule.max) {
    return `must be between ${rule.min} and ${rule.max} (got ${quoteValue(value)})`;
  }
  return n;
}

/** Cross-key rules: the ladder climbs in order and the intervals nest. */
function checkOrdering(config: PolicyConfig, source: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const needs = (key: keyof PolicyConfig, holds: boolean, message: string): void => {
    if (!holds) issues.push({ key, source, message });
  };
  needs('compactAt', config.compactAt > 0, `must be above 0 (got ${config.compactAt})`);
  needs(
    'clearAt',
    config.clearAt >= config.compactAt,
    `(${config.clearAt}) must be >= compactAt (${config.compactAt})`,
  );
  needs(
    'terminateAt',
    config.terminateAt >= config.clearAt,
    `(${config.terminateAt}) must be >= clearAt (${config.clearAt})`,
  );
  // Fast polling must begin before tier 3, or the last rung is decided at the relaxed speed.
  needs(
    'fastPollAt',
    config.fastPollAt <= config.terminateAt,
    `(${config.fastPollAt}) must be <= terminateAt (${config.terminateAt})`,
  );
  needs(
    'fastPollMs',
    config.fastPollMs <= config.relaxedPollMs,
    `(${config.fastPollMs}) must be <= relaxedPollMs (${config.relaxedPollMs})`,
  );
  needs(
    'minPollMs',
    config.minPollMs <= config.fastPollMs,
    `(${config.minPollMs}) must be <= fastPollMs (${config.fastPollMs})`,
  );
  needs(
    'urgentPollMs',
    config.urgentPollMs <= config.minPollMs,
    `(${config.urgentPollMs}) must be <= minPollMs (${config.minPollMs})`,
  );
  return issues;
}

/**
 * Merges `raw` over `base` and validates the result. `raw` holds policy keys only; an unknown key
 * is an error (a typo must not silently fall back to a default).
 */
export function resolvePolicy(
  raw: Readonly<Record<string, unknown>>,
  source: string,
  base: PolicyConfig = DEFAULT_POLICY,
): Result<PolicyConfig, ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(raw)) {
    if (!isPolicyKey(key)) {
      issues.push({ key, source, message: `unknown setting (known: ${POLICY_KEYS.join(', ')})` });
      continue;
    }
    if (key === 'metric' || key === 'tools') {
      const words: readonly string[] = CHOICES[key];
      if (typeof value !== 'string' || !words.includes(value)) {
        const allowed = words.map((w) => `"${w}"`).join(' or ');
        issues.push({ key, source, message: `must be ${allowed} (got ${quoteValue(value)})` });
      } else merged[key] = value;
      continue;
    }
    const checked = checkNumber(key, value);
    if (typeof checked === 'string') issues.push({ key, source, message: checked });
    else merged[key] = checked;
  }
  if (issues.length > 0) return err(issues);
  // Thresholds lowered without fastPollAt (compactAt 0.6 ... terminateAt 0.7) mean "poll fast
  // before tier 3" as before: the inherited fastPollAt follows terminateAt down. Only a fastPollAt
  // set above terminateAt in the same layer is refused (checkOrdering).
  if (!('fastPollAt' in raw) && (merged.fastPollAt as number) > (merged.terminateAt as number))
    merged.fastPollAt = merged.terminateAt;
  const config = merged as unknown as PolicyConfig;
  const orderIssues = checkOrdering(config, source);
  return orderIssues.length > 0 ? err(orderIssues) : ok(config);
}

/** MEMGOV_COMPACT_AT -> compactAt: the env name of each policy key. */
export function envNameOf(key: keyof PolicyConfig): string {
  return `MEMGOV_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Policy values present in the environment, keyed by policy key. */
export function policyFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const key of POLICY_KEYS) {
    const value = env[envNameOf(key)];
    if (value !== undefined) raw[key] = value;
  }
  return raw;
}
